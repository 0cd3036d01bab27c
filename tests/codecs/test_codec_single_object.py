"""Avro single-object encoding of canonical records: layout, round trips, old versions, and every failure."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import avro.schema
import fastavro
import pytest

from streams.codecs.avro.schemas import SchemaSet, canonical_form, fingerprint, load_schemas
from streams.codecs.avro.single_object import HEADER_SIZE, MARKER, CanonicalRecord, SchemaStore
from streams.codecs.exceptions import NotSingleObject, SchemaMismatch, UnknownFingerprint, UnknownSchema

NOW = dt.datetime(2024, 3, 10, 6, 30, 0, 123456, tzinfo=dt.UTC)
CUSTOMER = {
    "customer_number": "C-000123",
    "crm_customer_id": 7,
    "name": "Zhang Wei",
    "email": "zw@example.invalid",
    "billing_address": {"kind": "billing", "line1": "1 Road", "city": "Shanghai", "country": "CN"},
    "contacts": [{"first_name": "Li", "last_name": "Na"}],
    "credit_limit": Decimal("-1234567890.05"),
    "blocked": True,
    "updated_at": NOW,
    "provenance": {"name": {"system": "crm", "commit_time": NOW}},
}


def test_spec_fingerprint_of_null() -> None:
    """The Avro specification's test vector: CRC-64-AVRO of "null" is 7195948357588979594 (as a long)."""
    assert int.from_bytes(fingerprint("null"), "little", signed=True) == 7195948357588979594


def _without_logical_types(node: object) -> object:
    if isinstance(node, list):
        return [_without_logical_types(n) for n in node]
    if isinstance(node, dict):
        if "logicalType" in node and isinstance(node["type"], str):
            return node["type"]
        return {k: _without_logical_types(v) for k, v in node.items()}
    return node


def test_canonical_form_matches_the_avro_library(schemas: SchemaSet) -> None:
    """The avro package keeps ``{"type": "bytes"}`` for a logical type where the specification (and Java's
    SchemaNormalization) reduce it to ``"bytes"``; without logical types both must agree."""
    for name in schemas.names():
        standalone = schemas.standalone(name)
        reference = avro.schema.parse(json.dumps(_without_logical_types(standalone))).canonical_form
        assert canonical_form(standalone) == reference


def test_canonical_form_drops_logical_types_and_docs() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "namespace": "n",
        "doc": "d",
        "fields": [
            {
                "name": "a",
                "doc": "x",
                "pii": True,
                "default": None,
                "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}],
            }
        ],
    }
    assert (
        canonical_form(schema)
        == '{"name":"n.R","type":"record","fields":[{"name":"a","type":["null","bytes"]}]}'
    )


def test_layout_is_marker_fingerprint_body(store: SchemaStore) -> None:
    data = store.encode("Customer", CUSTOMER)
    assert data[:2] == MARKER == b"\xc3\x01"
    assert data[2:HEADER_SIZE] == store.current("Customer").fingerprint
    body = fastavro.schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), store.current("Customer").parsed, None)
    assert isinstance(body, dict) and body["customer_number"] == "C-000123"


def test_round_trip_keeps_decimals_times_and_nested_records(store: SchemaStore) -> None:
    decoded = store.decode(store.encode("isthmus.canonical.Customer", CUSTOMER))
    assert decoded.schema == "isthmus.canonical.Customer"
    value = decoded.value
    assert value["credit_limit"] == Decimal("-1234567890.05") and value["updated_at"] == NOW
    assert value["billing_address"]["line1"] == "1 Road" and value["contacts"][0]["email"] is None
    assert value["provenance"]["name"] == {"system": "crm", "commit_time": NOW}
    assert value["active"] is True and value["shipping_address"] is None


def test_every_schema_has_a_distinct_fingerprint(store: SchemaStore, schemas: SchemaSet) -> None:
    prints = {store.current(name).fingerprint for name in schemas.names()}
    assert len(prints) == len(schemas.names())


def test_data_written_with_an_old_version_reads_as_the_current_one(
    store: SchemaStore, schemas: SchemaSet
) -> None:
    old = schemas.versions("Customer")[0]
    writer = fastavro.parse_schema(old.schema, named_schemas={})
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer, {"customer_number": "C-000001", "name": "Old"})
    data = MARKER + fingerprint(old.schema) + body.getvalue()
    decoded = store.decode(data)
    assert store.by_fingerprint(data[2:HEADER_SIZE]).version == "v1"
    assert decoded.value["shipping_address"] is None and decoded.value["provenance"] == {}
    assert decoded.value["name"] == "Old"


def test_unknown_fingerprint(store: SchemaStore) -> None:
    data = MARKER + b"\x01\x02\x03\x04\x05\x06\x07\x08" + b"\x00"
    with pytest.raises(UnknownFingerprint, match="0102030405060708"):
        store.decode(data)


@pytest.mark.parametrize("data", [b"", b"\xc3", b"\xc3\x02" + bytes(9), b'{"json": true}'])
def test_not_single_object(store: SchemaStore, data: bytes) -> None:
    with pytest.raises(NotSingleObject, match="C3 01"):
        store.decode(data)


def test_value_that_does_not_fit_the_schema(store: SchemaStore) -> None:
    with pytest.raises(SchemaMismatch, match="Customer"):
        store.encode("Customer", {**CUSTOMER, "credit_limit": Decimal("1.005")})
    with pytest.raises(SchemaMismatch):
        store.encode("Customer", {"customer_number": "C-000001"})


def test_bytes_of_another_schema_under_a_known_fingerprint(store: SchemaStore) -> None:
    customer = store.encode("Customer", CUSTOMER)
    xref = store.encode("CustomerAccountXref", {"customer_number": "C-000001"})
    forged = customer[:HEADER_SIZE] + xref[HEADER_SIZE:]
    with pytest.raises(SchemaMismatch):
        store.decode(forged)
    with pytest.raises(SchemaMismatch, match="left over"):
        store.decode(customer + b"\x00")


def test_unknown_schema_name(store: SchemaStore) -> None:
    with pytest.raises(UnknownSchema, match="Customer360"):
        store.encode("Nope", {})


def test_reader_schema_must_exist(store: SchemaStore) -> None:
    with pytest.raises(UnknownSchema):
        store.decode(store.encode("Customer", CUSTOMER), reader="Unknown")


def test_canonical_record_is_a_value() -> None:
    assert CanonicalRecord(schema="a", value={}) == CanonicalRecord(schema="a", value={})


#: Every fingerprint a released version wrote with: records carrying them sit on topics and must stay readable.
PUBLISHED = {
    "Account": ["e0c80415d96fbe85"], "Address": ["6ebd2057956f04e6"],
    "Command": ["d1ecd56cbfb63cc2", "c34e3e7abb0979b2"], "CommandResult": ["a197a4a66969d0da"],
    "Contact": ["e132ae06bbaf5c98"],
    "ConflictRecord": ["bc2b11fbbcb5c518", "364a0bfc53a6eb75", "e5b5dfc39277fe12", "c82d0a176aad8592"],
    "Customer": ["3cbf51903a155878", "5d6861dcfeb067d4"], "Customer360": ["ffb42b9ab115ea4a"],
    "CustomerAccountXref": ["b8af9d35394417d1"], "DeadLetter": ["e35316452f1b479f"],
    "ErpSalesOrder": ["8077809967c38515"], "ErpSalesOrderLine": ["db5b338acb47d879"],
    "FieldStamp": ["3650d61876aac562"], "Invoice": ["100a3125db8064f8"],
    "OrderStatus": ["869f6ca98da5aed7", "48ec5ac7c244b748"], "Payment": ["4da6b57571e2b34b"],
    "Product": ["c6608ecfac6dbf32"], "ProductAvailability": ["bf0f1325e1f4267c"],
    "SalesOrder": ["f7f31730521dd4b5"], "SalesOrderLine": ["3aaef4ef7d684628"], "Shipment": ["308fcdf8e34982c7"],
    "SourcePosition": ["17541ff1e12d65c4"], "StockLevel": ["4ed153108c4838bf"],
}


def test_every_published_fingerprint_is_still_known(store: SchemaStore) -> None:
    """``System`` became a string, which changed the fingerprint of every schema embedding it; the history
    copies pin the enum inline, so the fingerprints records were written with still find their schema.
    (``System`` itself, 4f9ac7a8cad61664, was retired: no record was ever written with it alone.)"""
    for name, prints in PUBLISHED.items():
        for print_ in prints:
            assert store.by_fingerprint(bytes.fromhex(print_)).name == f"isthmus.canonical.{name}"


def _written_with(schemas: SchemaSet, name: str, version: int, value: dict[str, object]) -> bytes:
    (old,) = [v for v in schemas.versions(name) if v.version == version]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(old.schema, named_schemas={}), value)
    return MARKER + fingerprint(old.schema) + body.getvalue()


def test_a_system_written_as_the_old_enum_reads_as_the_same_string(store: SchemaStore, schemas: SchemaSet) -> None:
    """Customer v2 wrote ``System`` as an enum (in a map of FieldStamp); the current Customer reads a string."""
    provenance = {"name": {"system": "erp", "commit_time": NOW}, "email": {"system": "crm", "commit_time": NOW}}
    data = _written_with(schemas, "Customer", 2, {**CUSTOMER, "provenance": provenance})
    assert store.by_fingerprint(data[2:HEADER_SIZE]).version == "v2"
    decoded = store.decode(data)
    assert decoded.schema == "isthmus.canonical.Customer" and decoded.value["provenance"] == provenance
    assert store.decode(store.encode("Customer", decoded.value)).value == decoded.value


def test_every_field_that_was_a_system_enum_reads_as_its_symbol(store: SchemaStore, schemas: SchemaSet) -> None:
    """Command.target (top level) with Command.source.system (nested), and ConflictRecord.owner and .winner (one
    enum met twice in a record): each old record decodes with the current schema, the symbol as the string."""
    command = {"command_id": "c1", "idempotency_key": "k1", "target": "erp", "operation": "upsert",
               "entity_type": "isthmus.canonical.Customer", "entity_key": "C-000001",
               "payload_type": "isthmus.canonical.Account", "payload": "{}",
               "source": {"system": "crm", "connector": "crm", "database": "crm", "table": "customers",
                          "commit_time": NOW},
               "causation": {"event_id": "crm:1:customers:1"}, "created_at": NOW}
    decoded = store.decode(_written_with(schemas, "Command", 1, command))
    assert decoded.value["target"] == "erp" and decoded.value["source"]["system"] == "crm"
    assert decoded.value == store.decode(store.encode("Command", command)).value
    conflict = {"conflict_id": "x", "entity_type": "isthmus.canonical.Customer", "entity_key": "C-000001",
                "field": "name", "policy": "owner_wins", "owner": "crm", "winner": "erp", "settled_at": NOW}
    decoded = store.decode(_written_with(schemas, "ConflictRecord", 1, conflict))
    assert (decoded.value["owner"], decoded.value["winner"]) == ("crm", "erp")
    assert decoded.value == store.decode(store.encode("ConflictRecord", conflict)).value


def test_a_current_record_may_name_any_system(store: SchemaStore) -> None:
    """A system is data now: a name the old enum never had encodes and decodes."""
    value = {**CUSTOMER, "provenance": {"name": {"system": "shop", "commit_time": NOW}}}
    assert store.decode(store.encode("Customer", value)).value["provenance"]["name"]["system"] == "shop"


def test_a_null_in_a_user_schemas_array_names_that_file_and_the_fix(tmp_path: Path) -> None:
    """A PostgreSQL TEXT[] holding a NULL element, into a record of the user's own schemas folder whose array items
    are not nullable: the error names that folder's file (not the built-in schemas/) and says how to allow it."""
    (tmp_path / "ticket.avsc").write_text(json.dumps({
        "type": "record", "name": "Ticket", "namespace": "isthmus.canonical", "doc": "a ticket",
        "fields": [{"name": "nummer", "type": "string", "doc": "its number"},
                   {"name": "tags", "type": {"type": "array", "items": "string"}, "doc": "its tags"}]}))
    store = SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(tmp_path)}))
    with pytest.raises(SchemaMismatch) as raised:
        store.encode("isthmus.canonical.Ticket", {"nummer": "T-1", "tags": ["a", None, "b"]})
    message = str(raised.value)
    assert "tags[1] = None" in message and str(tmp_path / "ticket.avsc") in message
    assert "not nullable" in message and "an array of a nullable item type" in message
