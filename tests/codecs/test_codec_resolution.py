"""Reading a writer's enum as the reader's string (rule enum-as-string): the reader the store builds for it."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest

from streams.codecs.avro.compatibility import can_read
from streams.codecs.avro.resolution import read_as

SYSTEM = {"type": "enum", "name": "n.System", "symbols": ["crm", "erp"]}


def record(*fields: tuple[str, Any], name: str = "n.R") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}


def read(reader: Any, writer: Any, value: Any) -> Any:
    """Write ``value`` with ``writer`` and read it back through the reader ``read_as`` builds."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(writer, named_schemas={}), value)
    body.seek(0)
    adapted = read_as(reader, writer)
    assert adapted is not None and can_read(reader, writer) == ()
    return fastavro.schemaless_reader(body, fastavro.parse_schema(writer, named_schemas={}),
                                      fastavro.parse_schema(adapted, named_schemas={}))


def test_without_the_rewrite_avro_cannot_read_an_enum_as_a_string() -> None:
    """What the rule is for: plain Avro resolution refuses the pair."""
    writer, reader = record(("s", SYSTEM)), record(("s", "string"))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(writer, named_schemas={}), {"s": "erp"})
    body.seek(0)
    with pytest.raises(fastavro.read.SchemaResolutionError):
        fastavro.schemaless_reader(body, fastavro.parse_schema(writer, named_schemas={}),
                                   fastavro.parse_schema(reader, named_schemas={}))


def test_an_enum_met_several_times_is_defined_once_and_read_everywhere() -> None:
    """The first field defines the enum; later ones, in an array, a map and a nested record, refer to it by name."""
    inner = record(("s", "string"), name="n.Inner")
    reader = record(("a", "string"), ("b", {"type": "array", "items": "string"}),
                    ("c", {"type": "map", "values": "string"}), ("d", inner))
    writer = record(("a", SYSTEM), ("b", {"type": "array", "items": "n.System"}),
                    ("c", {"type": "map", "values": "n.System"}), ("d", record(("s", "n.System"), name="n.Inner")))
    value = {"a": "crm", "b": ["erp", "crm"], "c": {"k": "erp"}, "d": {"s": "erp"}}
    assert read(reader, writer, value) == value


def test_a_nullable_string_takes_the_enum_and_keeps_its_other_branches() -> None:
    reader = record(("s", ["null", "string"]))
    assert read(reader, record(("s", SYSTEM)), {"s": "erp"}) == {"s": "erp"}
    assert read(reader, record(("s", ["null", "string", SYSTEM])), {"s": "shop"}) == {"s": "shop"}
    assert read(reader, record(("s", ["null", "string", SYSTEM])), {"s": "crm"}) == {"s": "crm"}


def test_a_reader_default_that_is_no_symbol_is_dropped_where_the_writer_writes_the_field() -> None:
    reader = {**record(), "fields": [{"name": "s", "type": "string", "default": "shop"}]}
    assert read(reader, record(("s", SYSTEM)), {"s": "crm"}) == {"s": "crm"}


def test_nothing_is_rewritten_without_an_enum_meeting_a_string() -> None:
    assert read_as(record(("s", "string")), record(("s", "string"))) is None
    assert read_as(record(("s", SYSTEM)), record(("s", SYSTEM))) is None
    assert read_as(record(("s", {"type": "string", "logicalType": "uuid"})), record(("s", SYSTEM))) is None


def test_a_reader_with_an_enum_of_that_name_resolves_as_avro_does() -> None:
    """The reader's own enum branch is the one Avro resolution picks; the string branch is left alone."""
    reader = record(("s", ["string", SYSTEM]))
    assert read_as(reader, record(("s", SYSTEM))) is None
    assert can_read(reader, record(("s", SYSTEM))) == ()
