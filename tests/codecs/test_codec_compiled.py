"""Schemas compiled once per distinct schema: only payloads parsed per record, the same values, the same errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from streams.codecs import ChangeEvent, decode, decode_key
from streams.codecs.debezium import envelope
from streams.codecs.debezium.compiled import compile_schema
from streams.codecs.debezium.schema_cache import SchemaCache
from streams.codecs.debezium.values import decode_value
from streams.codecs.exceptions import FieldDecodeError

FIELDS = [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "name", "type": "string", "optional": True},
    {"field": "credit_limit", "type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
     "parameters": {"scale": "2", "connect.decimal.precision": "12"}},
    {"field": "updated_at", "type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp"},
]
KEY_SCHEMA = {"type": "struct", "name": "test.crm.things.Key", "optional": False,
              "fields": [{"field": "id", "type": "int64", "optional": False}]}
TOPIC = "test.crm.things"
CAPTURED = sorted(p.stem for p in (Path(__file__).parent / "fixtures").glob("*.json"))


def _same(value: Any, expected: Any) -> bool:
    """Equal, and equal in every detail equality overlooks: a time's zone, a decimal's exponent, a type."""
    return bool(value == expected) and repr(value) == repr(expected)


def _compact(data: bytes) -> bytes:
    """A record as JsonConverter writes it: compact, ``schema`` before ``payload``."""
    return json.dumps(json.loads(data), separators=(",", ":")).encode()


def _key(row_id: int) -> bytes:
    return json.dumps({"schema": KEY_SCHEMA, "payload": {"id": row_id}}, separators=(",", ":")).encode()


def _row(row_id: int, **extra: Any) -> dict[str, Any]:
    return {"id": row_id, "name": f"Customer {row_id}", "credit_limit": base64.b64encode(
        (row_id * 100 + 5).to_bytes(4, "big", signed=True)).decode(),
        "updated_at": "2026-03-10T06:00:00.123456Z", **extra}


@pytest.fixture
def record(make_envelope: Callable[..., bytes]) -> Callable[..., bytes]:
    def make(row_id: int, *, fields: list[dict[str, Any]] = FIELDS, **extra: Any) -> bytes:
        return _compact(make_envelope(fields, op="c", after=_row(row_id, **extra)))
    return make


@pytest.fixture
def only_compiled(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The interpreting decoder, kept as the reference; :func:`decode` may no longer fall back to it."""
    reference = envelope._interpreted

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the record left the compiled path")

    monkeypatch.setattr(envelope, "_interpreted", refuse)
    return reference


@pytest.mark.parametrize("compact", [False, True], ids=["as-captured", "compact"])
def test_every_captured_record_takes_the_compiled_path_with_the_same_result(
    captured: Callable[[str], Any], only_compiled: Callable[..., Any], compact: bool
) -> None:
    schemas = SchemaCache()
    for name in CAPTURED:
        record = captured(name)
        value = _compact(record.value) if compact and record.value else record.value
        expected = only_compiled(value, record.key, topic=record.topic, where=None)
        for _ in range(2):  # compiled when new, then found
            assert _same(decode(value, record.key, topic=record.topic, schemas=schemas), expected), name


def test_a_schema_is_parsed_and_compiled_once_for_many_records(
    record: Callable[..., bytes], only_compiled: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[bytes] = []

    def loads(data: bytes) -> Any:
        parsed.append(data)
        return orjson.loads(data)

    monkeypatch.setattr(envelope, "orjson", SimpleNamespace(loads=loads, JSONDecodeError=orjson.JSONDecodeError))
    schemas = SchemaCache()
    events = [decode(record(n), _key(n), topic=TOPIC, schemas=schemas) for n in range(1, 51)]
    assert schemas.compiled == 2  # the value's schema and the key's
    assert sum(b'"fields"' in text for text in parsed) == 2  # schemas parsed with the first record only
    assert len(parsed) == 100
    last = events[-1]
    assert isinstance(last, ChangeEvent) and last.key == {"id": 50} and last.after is not None
    assert last.after["credit_limit"] == Decimal("50.05") and str(last.after["credit_limit"]) == "50.05"
    assert last.after["updated_at"] == dt.datetime(2026, 3, 10, 6, 0, 0, 123456, tzinfo=dt.UTC)


def test_a_changed_schema_is_compiled_again_and_both_versions_decode(
    record: Callable[..., bytes], only_compiled: Callable[..., Any]
) -> None:
    schemas = SchemaCache()
    widened = [*FIELDS, {"field": "nickname", "type": "string", "optional": True}]
    first = decode(record(1), _key(1), topic=TOPIC, schemas=schemas)
    second = decode(record(2, fields=widened, nickname="Nick"), _key(2), topic=TOPIC, schemas=schemas)
    again = decode(record(3), _key(3), topic=TOPIC, schemas=schemas)
    assert schemas.compiled == 3 and len(schemas) == 3
    assert isinstance(first, ChangeEvent) and first.after is not None and "nickname" not in first.after
    assert isinstance(second, ChangeEvent) and second.after is not None and second.after["nickname"] == "Nick"
    assert isinstance(again, ChangeEvent) and again.after is not None and "nickname" not in again.after


@pytest.mark.parametrize(
    "bad,field,match",
    [
        ({"id": "12"}, "id", "int64 field holds str"),
        ({"credit_limit": "not base64!"}, "credit_limit", "invalid base64"),
        ({"updated_at": "2026-03-10T06:00:00"}, "updated_at", "no offset"),
        ({"id": None}, "id", "required"),
    ],
)
def test_an_invalid_value_after_the_schema_is_compiled_names_its_field_and_position(
    record: Callable[..., bytes], bad: dict[str, Any], field: str, match: str
) -> None:
    schemas = SchemaCache()
    decode(record(1), _key(1), topic=TOPIC, schemas=schemas)
    with pytest.raises(FieldDecodeError, match=match) as caught:
        decode(record(2, **bad), _key(2), topic=TOPIC, where=f"{TOPIC}/0@7", schemas=schemas)
    assert caught.value.where == f"{TOPIC}/0@7 after.{field}"
    assert schemas.compiled == 2


def test_records_the_schema_cannot_be_split_from_decode_whole(
    record: Callable[..., bytes], only_compiled: Callable[..., Any]
) -> None:
    """``,"payload":`` inside the schema text (a parameter of that name): cached under its canonical JSON."""
    odd = [*FIELDS, {"field": "note", "type": "string", "optional": True,
                     "parameters": {"a": "1", "payload": "x"}}]
    schemas = SchemaCache()
    for n in (1, 2, 3):
        data = record(n, fields=odd, note=f"note {n}")
        assert data.index(b',"payload":') < data.index(b'"op"')  # the first one is inside the schema
        event = decode(data, _key(n), topic=TOPIC, schemas=schemas)
        assert _same(event, only_compiled(data, _key(n), topic=TOPIC, where=None))
        assert isinstance(event, ChangeEvent) and event.after is not None and event.after["note"] == f"note {n}"
    assert schemas.compiled == 2


def test_a_known_schema_followed_by_more_than_the_payload_is_parsed_whole(record: Callable[..., bytes]) -> None:
    schemas = SchemaCache()
    decode(record(1), _key(1), topic=TOPIC, schemas=schemas)
    extended = record(2)[:-1] + b',"extra":{"id":99}}'
    event = decode(extended, _key(2), topic=TOPIC, schemas=schemas)
    assert isinstance(event, ChangeEvent) and event.after is not None and event.after["id"] == 2


def test_the_cache_is_bounded_and_an_evicted_schema_is_compiled_again(
    record: Callable[..., bytes], only_compiled: Callable[..., Any]
) -> None:
    schemas = SchemaCache(size=2)
    versions = [[*FIELDS, {"field": f"extra_{n}", "type": "int32", "optional": True}] for n in range(3)]
    for n, fields in enumerate(versions):
        event = decode(record(n + 1, fields=fields), None, topic=TOPIC, schemas=schemas)
        assert isinstance(event, ChangeEvent) and event.after is not None and f"extra_{n}" in event.after
    assert len(schemas) == 2 and schemas.compiled == 3
    decode(record(9, fields=versions[0]), None, topic=TOPIC, schemas=schemas)
    assert len(schemas) == 2 and schemas.compiled == 4


def test_a_key_decodes_by_its_compiled_schema(only_compiled: Callable[..., Any]) -> None:
    schemas = SchemaCache()
    primitive = json.dumps({"schema": {"type": "string", "optional": False}, "payload": "SKU-1"})
    assert decode_key(primitive, schemas=schemas) == {"value": "SKU-1"}
    assert decode_key(_key(7), topic=TOPIC, schemas=schemas) == {"id": 7}
    assert decode_key(_key(8), topic=TOPIC, schemas=schemas) == {"id": 8}
    assert schemas.compiled == 2


_VSD = {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal",
        "fields": [{"field": "scale", "type": "int32"}, {"field": "value", "type": "bytes"}]}
AGREEING: list[tuple[Any, dict[str, Any]]] = [
    ("AIA=", {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "-2"}}),
    ("/w==", {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}}),
    ({"scale": 4, "value": "hTE="}, _VSD),
    (19823, {"type": "int32", "name": "io.debezium.time.Date"}),
    (3_723_004, {"type": "int32", "name": "io.debezium.time.Time"}),
    (3_723_000_005, {"type": "int64", "name": "io.debezium.time.MicroTime"}),
    (3_723_000_005_000, {"type": "int64", "name": "io.debezium.time.NanoTime"}),
    ("10:15:30Z", {"type": "string", "name": "io.debezium.time.ZonedTime"}),
    (1710081000123, {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"}),
    (1710081000123456, {"type": "int64", "name": "io.debezium.time.MicroTimestamp"}),
    (1710081000123456789, {"type": "int64", "name": "io.debezium.time.NanoTimestamp"}),
    ("2024-03-10T06:30:00.5+08:00", {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}),
    ("paid", {"type": "string", "name": "io.debezium.data.Enum"}),
    (2.5, {"type": "float64"}),
    (3, {"type": "float32"}),
    (2.5, {"type": "double"}),
    (3, {"type": "float"}),
    (True, {"type": "boolean"}),
    ("AAEC", {"type": "bytes"}),
    (None, {"type": "int32", "optional": False, "default": 1}),
    (None, {"type": "int32", "name": "io.debezium.time.Date", "optional": False, "default": 0}),
    (None, {"type": "uuid", "optional": True}),
    ([1, 2], {"type": "array", "items": {"type": "int32"}}),
    ({"a": 1}, {"type": "map", "keys": {"type": "string"}, "values": {"type": "int64"}}),
    ([["a", 1]], {"type": "map", "keys": {"type": "string"}, "values": {"type": "int64"}}),
    ({"a": {"b": None}}, {"type": "struct", "fields": [
        {"field": "a", "type": "struct", "fields": [{"field": "b", "type": "string", "optional": True}]}]}),
]
REFUSED: list[tuple[Any, dict[str, Any]]] = [
    ("NaN", {"type": "double"}),
    ("12", {"type": "int64"}),
    (True, {"type": "int32"}),
    (1, {"type": "boolean"}),
    (None, {"type": "string"}),
    ({"a": 1, "b": 2}, {"type": "struct", "fields": [{"field": "a", "type": "int32"}]}),
    (5, {"type": "uuid"}),
    (5, {"type": "int64", "name": "com.example.Furlongs"}),
    ("AA==", {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {}}),
    ("AAA==", {"type": "bytes"}),
    ("2024-03-10T06:30:00", {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}),
    ([["a"]], {"type": "map", "keys": {"type": "string"}, "values": {"type": "int64"}}),
    (-2147472692, {"type": "int32", "name": "io.debezium.time.Date"}),  # PostgreSQL's date 'infinity'
    (9223372036825200000, {"type": "int64", "name": "io.debezium.time.MicroTimestamp"}),
    (-9223372036832400000, {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"}),
]


@pytest.mark.parametrize("raw,schema", AGREEING)
def test_a_compiled_converter_returns_what_the_interpreting_decoder_does(raw: Any, schema: dict[str, Any]) -> None:
    expected = decode_value(raw, schema)
    assert _same(compile_schema(schema)(raw), expected)


@pytest.mark.parametrize("raw,schema", REFUSED)
def test_a_compiled_converter_refuses_what_it_cannot_vouch_for(raw: Any, schema: dict[str, Any]) -> None:
    """Refused here, the record goes to the interpreting decoder, which accepts it or says where it is wrong."""
    with pytest.raises(FieldDecodeError):
        compile_schema(schema)(raw)


def test_an_array_decodes_to_the_list_a_flows_store_gives_back() -> None:
    """A PostgreSQL TEXT[] (a Connect array) is a list on both decoding paths, the form the flows' stores give back:
    as a tuple it never equalled the stored value, and an unchanged array was commanded to its target and audited as
    a conflict on every change of its row."""
    from streams.flows.engine.values import from_store, to_store

    schema = {"type": "array", "items": {"type": "string", "optional": True}, "optional": True}
    compiled = compile_schema(schema)(["drucker", None, "netz"])
    assert compiled == decode_value(["drucker", None, "netz"], schema) == ["drucker", None, "netz"]
    assert from_store(to_store(compiled)) == compiled
