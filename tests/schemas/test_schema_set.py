"""The canonical schemas load, are documented, mark personal data, and the loader explains bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.codecs.avro.schemas import SchemaSet, load_schemas
from streams.codecs.exceptions import SchemaLoadError, UnknownSchema

EXPECTED = {
    "Customer",
    "Account",
    "CustomerAccountXref",
    "SalesOrder",
    "SalesOrderLine",
    "StockLevel",
    "ProductAvailability",
    "Invoice",
    "Payment",
    "Shipment",
    "Command",
    "ConflictRecord",
    "DeadLetter",
    "Customer360",
}


def test_every_required_schema_exists_in_the_canonical_namespace(schemas: SchemaSet) -> None:
    names = {n.rpartition(".")[2] for n in schemas.names()}
    assert names >= EXPECTED
    assert all(n.startswith("isthmus.canonical.") for n in schemas.names())


def test_every_type_and_field_is_documented(schemas: SchemaSet) -> None:
    assert schemas.undocumented() == ()


def test_references_across_files_resolve(schemas: SchemaSet) -> None:
    customer360 = schemas.standalone("Customer360")
    text = str(customer360)
    for name in ("Customer", "Account", "SalesOrder", "Invoice", "Address", "Contact", "FieldStamp"):
        assert f"'name': 'isthmus.canonical.{name}'" in text


def test_personal_data_is_marked(schemas: SchemaSet) -> None:
    assert schemas.pii_fields("Customer") >= {
        "name",
        "email",
        "phone",
        "billing_address.line1",
        "shipping_address.postal_code",
        "contacts.last_name",
    }
    assert "credit_limit" not in schemas.pii_fields("Customer")
    assert schemas.pii_fields("DeadLetter") == {"key", "value"}
    assert schemas.pii_fields("ConflictRecord") == {"values"}
    assert "customer.contacts.email" in schemas.pii_fields("Customer360")


def test_money_and_time_use_logical_types(schemas: SchemaSet) -> None:
    line = {f["name"]: f["type"] for f in schemas.definition("SalesOrderLine")["fields"]}
    assert line["quantity"] == {"type": "bytes", "logicalType": "decimal", "precision": 14, "scale": 3}
    assert line["unit_price"]["scale"] == 2
    invoice = {f["name"]: f["type"] for f in schemas.definition("Invoice")["fields"]}
    assert invoice["issued_at"]["logicalType"] == "timestamp-micros"
    assert invoice["due_date"]["logicalType"] == "date"


def test_non_key_fields_have_defaults(schemas: SchemaSet) -> None:
    for name in ("Customer", "Account", "SalesOrder"):
        fields = schemas.definition(name)["fields"]
        without = [f["name"] for f in fields if "default" not in f]
        assert len(without) <= 2, f"{name}: {without}"


def test_short_and_full_names_resolve(schemas: SchemaSet) -> None:
    assert schemas.resolve("Customer") == "isthmus.canonical.Customer"
    with pytest.raises(UnknownSchema, match="known:"):
        schemas.file("Nope")


def test_reference_to_an_undefined_type_names_file_and_fix(write_schema: Callable[[str, Any], Path]) -> None:
    folder = write_schema(
        "order.avsc",
        {
            "type": "record",
            "name": "Order",
            "namespace": "t",
            "doc": "d",
            "fields": [{"name": "a", "type": "Adress", "doc": "d"}],
        },
    )
    with pytest.raises(SchemaLoadError) as caught:
        load_schemas(folder)
    message = str(caught.value)
    assert "order.avsc" in message and "t.Adress" in message and "fix the spelling" in message


def test_a_type_defined_in_two_files_is_refused(write_schema: Callable[[str, Any], Path]) -> None:
    enum = {"type": "enum", "name": "E", "namespace": "t", "symbols": ["a"], "doc": "d"}
    write_schema("a.avsc", enum)
    folder = write_schema(
        "b.avsc",
        {
            "type": "record",
            "name": "B",
            "namespace": "t",
            "doc": "d",
            "fields": [{"name": "e", "type": enum, "doc": "d"}],
        },
    )
    with pytest.raises(SchemaLoadError, match=r"defines t\.E, which a\.avsc defines too"):
        load_schemas(folder)


def test_invalid_json_and_invalid_schema_name_the_file(write_schema: Callable[[str, Any], Path]) -> None:
    folder = write_schema("bad.avsc", '{"type": "record",\n "name": }')
    with pytest.raises(SchemaLoadError, match=r"bad.avsc: not JSON at line 2"):
        load_schemas(folder)


def test_invalid_default_is_refused(write_schema: Callable[[str, Any], Path]) -> None:
    folder = write_schema(
        "r.avsc",
        {
            "type": "record",
            "name": "R",
            "doc": "d",
            "fields": [{"name": "a", "type": "int", "default": "x", "doc": "d"}],
        },
    )
    with pytest.raises(SchemaLoadError, match=r"r\.avsc: invalid Avro schema"):
        load_schemas(folder)


def test_cycle_between_files_is_refused(write_schema: Callable[[str, Any], Path]) -> None:
    write_schema(
        "a.avsc",
        {
            "type": "record",
            "name": "A",
            "doc": "d",
            "fields": [{"name": "b", "type": ["null", "B"], "doc": "d"}],
        },
    )
    folder = write_schema(
        "b.avsc",
        {
            "type": "record",
            "name": "B",
            "doc": "d",
            "fields": [{"name": "a", "type": ["null", "A"], "doc": "d"}],
        },
    )
    with pytest.raises(SchemaLoadError, match="cycle"):
        load_schemas(folder)
