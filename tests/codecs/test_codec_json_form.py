"""The check of a record that travels as JSON (a command's payload) against its Avro schema, compiled once per
schema: what Avro's encoder refuses and JSON text carries is refused, with the encode error's wording; what the
encoder takes, and a field left out, goes through."""

from __future__ import annotations

import io
import json
import random
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from support.avro_values import AvroValues

from streams.codecs.avro import single_object
from streams.codecs.avro.json_form import compile_check
from streams.codecs.avro.schemas import load_schemas
from streams.codecs.avro.single_object import SchemaStore
from streams.codecs.avro.writer import FieldValueError
from streams.codecs.exceptions import SchemaMismatch
from streams.flows.commands import payload_json

pytestmark = pytest.mark.unit

NAME = "isthmus.canonical.RegisterAccount"
#: The payload record of a new user's trial (register_account.avsc), with a field of each kind the check knows.
REGISTER_ACCOUNT = {
    "type": "record", "name": "RegisterAccount", "namespace": "isthmus.canonical", "doc": "What the API takes.",
    "fields": [
        {"name": "kontonummer", "type": "string", "doc": "Key."},
        {"name": "name", "type": "string", "pii": True, "doc": "Name."},
        {"name": "kreditlimit", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
         "doc": "Credit limit."},
        {"name": "rabatt", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}],
         "default": None, "doc": "Discount, below 100."},
        {"name": "stufe", "type": {"type": "enum", "name": "Stufe", "symbols": ["bronze", "silber", "gold"],
                                   "doc": "Tier."}, "default": "bronze", "doc": "Tier."},
        {"name": "filialen", "type": "int", "default": 0, "doc": "Branches."},
        {"name": "umsatz_cent", "type": ["null", "long"], "default": None, "doc": "Turnover."},
        {"name": "pruefziffer", "type": ["null", {"type": "fixed", "name": "Pruefziffer", "size": 2, "doc": "CRC."}],
         "default": None, "doc": "Check digits."},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": [], "doc": "Tags."},
        {"name": "limits", "type": {"type": "map", "values": {"type": "bytes", "logicalType": "decimal",
                                                               "precision": 6, "scale": 2}},
         "default": {}, "doc": "Limits by currency."},
        {"name": "adresse", "type": ["null", {
            "type": "record", "name": "Adresse", "doc": "Address.", "fields": [
                {"name": "strasse", "type": "string", "pii": True, "doc": "Street."},
                {"name": "land", "type": "string", "doc": "Country."},
                {"name": "plz", "type": ["null", "string"], "default": None, "doc": "Postal code."}]}],
         "default": None, "doc": "Address."},
        {"name": "notiz", "type": ["null", "string"], "default": None, "doc": "Note."},
        {"name": "geburtsjahr", "type": ["null", "int"], "default": None, "pii": True, "doc": "Year of birth."},
        {"name": "einkommen", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 9,
                                                "scale": 2}], "default": None, "pii": True, "doc": "Income."},
    ]}
VALID = {"kontonummer": "K-1", "name": "Muster GmbH", "kreditlimit": Decimal("1234567890.12"),
         "rabatt": Decimal("12.50"), "stufe": "gold", "filialen": 3, "umsatz_cent": 2 ** 63 - 1,
         "pruefziffer": b"\x01\x02", "tags": ["a"], "limits": {"EUR": Decimal("9999.99")},
         "adresse": {"strasse": "Hauptstr. 1", "land": "DE", "plz": None}, "notiz": None}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("register-schemas")
    (folder / "register_account.avsc").write_text(json.dumps(REGISTER_ACCOUNT), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def store(folder: Path) -> SchemaStore:
    return SchemaStore(load_schemas(env={"ISTHMUS_SCHEMAS_DIR": str(folder)}))


def _avro_refuses(store: SchemaStore, value: dict[str, Any]) -> bool:
    try:
        schemaless_writer(io.BytesIO(), store.current(NAME).parsed, value)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return True
    return False


def _refused(store: SchemaStore, **fields: Any) -> str:
    with pytest.raises(SchemaMismatch) as raised:
        store.check_json(NAME, {**VALID, **fields}, what="the payload of the api RegisterAccount.create command")
    return str(raised.value)


def test_the_trials_decimal_beyond_its_precision_is_refused_naming_field_value_file_precision_and_fix(
        store: SchemaStore, folder: Path) -> None:
    """``123456789012.345678`` rounded half-even to scale 2 by the mapping is ``123456789012.35``: 14 digits in a
    field of precision 12. JSON writes it; the check refuses it as the Avro encoder would."""
    value = {**VALID, "kreditlimit": Decimal("123456789012.35")}
    assert '"kreditlimit":"123456789012.35"' in payload_json(value), "the JSON form alone carries it"
    assert _avro_refuses(store, value)
    message = _refused(store, kreditlimit=Decimal("123456789012.35"))
    assert message.startswith(
        "the payload of the api RegisterAccount.create command does not fit isthmus.canonical.RegisterAccount: field "
        "kreditlimit = 123456789012.35: 123456789012.35 has 14 digits (12 before the point, 2 after), the field is a "
        "decimal of precision 12 and scale 2: at most 12 digits, 10 before the point; fix: round or limit the value "
        "in the mapping that fills kreditlimit")
    assert f"widen the field's precision and scale in isthmus.canonical.RegisterAccount's schema, " \
           f"{folder / 'register_account.avsc'}" in message


@pytest.mark.parametrize(("fields", "says"), [
    ({"kreditlimit": Decimal("1.005")}, "field kreditlimit = 1.005: 1.005 has 3 decimals, the field is a decimal of "
                                        "precision 12 and scale 2: at most 2 decimals"),
    ({"rabatt": Decimal("100.00")}, "field rabatt = 100.00: 100.00 has 5 digits (3 before the point"),
    ({"kreditlimit": 5}, "field kreditlimit = 5: int is not a decimal"),
    ({"limits": {"EUR": Decimal("10000.00")}}, "field limits[EUR] = 10000.00: 10000.00 has 7 digits"),
    ({"stufe": "platin"}, "field stufe = 'platin': 'platin' is not a symbol of isthmus.canonical.Stufe (bronze, "
                          "silber, gold)"),
    ({"umsatz_cent": 2 ** 63}, "does not fit an Avro long"),
    ({"umsatz_cent": "12"}, "field umsatz_cent = '12': str is not an integer"),
    ({"pruefziffer": b"\x01\x02\x03"}, "3 bytes, isthmus.canonical.Pruefziffer holds exactly 2"),
    ({"kontonummer": None}, "field kontonummer = None: null, and the field is not nullable; fix: the field (or an "
                            "item of it) is not nullable"),
    ({"tags": ["a", None]}, "field tags[1] = None: null, and the field is not nullable"),
    ({"adresse": {"strasse": "Hauptstr. 1", "land": None}}, "field adresse.land = None"),
    ({"name": None}, "field name = None: null, and the field is not nullable; fix: the field (or an item of it) "
                     "is not nullable"),  # a field of personal data: a null tells nothing of anyone
    ({"geburtsjahr": 2 ** 40}, "field geburtsjahr = (personal data, not shown): the value does not fit an Avro int"),
    ({"einkommen": Decimal("1.234")}, "field einkommen = (personal data, not shown): the value has 3 decimals"),
])
def test_what_the_encoder_refuses_and_json_carries_is_refused(store: SchemaStore, fields: dict[str, Any],
                                                               says: str) -> None:
    payload_json({**VALID, **fields})  # JSON carries each of them
    assert _avro_refuses(store, {**VALID, **fields})
    assert says in _refused(store, **fields)


def test_an_int_beyond_32_bits_is_refused_where_fastavro_takes_it(store: SchemaStore) -> None:
    """fastavro writes an ``int`` as it writes a ``long``; the compiled writer of the canonical records, the Avro
    specification and a target's INTEGER column take 32 bits."""
    assert not _avro_refuses(store, {**VALID, "filialen": 2 ** 31})
    assert "field filialen = 2147483648: 2147483648 does not fit an Avro int" in _refused(store, filialen=2 ** 31)


def test_a_whole_number_beyond_the_digits_before_the_point_is_refused_where_fastavro_takes_it(
        store: SchemaStore) -> None:
    """fastavro counts the digits as written: a whole 11-digit number in a ``decimal(12,2)`` is 11 digits to it,
    and 13 at the field's scale. The Avro specification's rule, which the target's column has too, refuses it."""
    assert not _avro_refuses(store, {**VALID, "kreditlimit": Decimal("12345678901")})
    assert "12345678901 has 11 digits (11 before the point, 0 after), the field is a decimal of precision 12 and " \
           "scale 2: at most 12 digits, 10 before the point" in _refused(store, kreditlimit=Decimal("12345678901"))


@pytest.mark.parametrize("fields", [
    {"kreditlimit": Decimal("9999999999.99"), "rabatt": Decimal("-99.99")},  # the largest each holds
    {"kreditlimit": Decimal("5.5"), "rabatt": Decimal("1")},  # fewer decimals than the scale: Avro pads them
    {"kreditlimit": Decimal("0.00"), "rabatt": Decimal("0E+3")},  # zeros, one written with an exponent
    {"kreditlimit": Decimal("-0.05"), "filialen": -(2 ** 31), "umsatz_cent": -(2 ** 63)},
    {"rabatt": None, "umsatz_cent": None, "pruefziffer": None, "adresse": None, "notiz": None},  # nullable
    {"limits": {}, "tags": []},
])
def test_what_the_encoder_takes_goes_through(store: SchemaStore, fields: dict[str, Any]) -> None:
    assert not _avro_refuses(store, {**VALID, **fields})
    store.check_json(NAME, {**VALID, **fields}, what="the payload")


def test_a_field_left_out_is_not_checked(store: SchemaStore) -> None:
    """A payload may carry some of its record's fields only (a command for an entity whose record is not complete
    carries its key), even ones without a default."""
    store.check_json(NAME, {"kontonummer": "K-1"}, what="the payload")
    store.check_json(NAME, {"adresse": {"land": "DE"}}, what="the payload")


def test_the_check_is_compiled_once_per_schema(store: SchemaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real = single_object.compile_check

    def counted(parsed: Any) -> Any:
        compiled.append(parsed["name"])
        return real(parsed)
    monkeypatch.setattr(single_object, "compile_check", counted)
    fresh = SchemaStore(store.schemas)
    for limit in ("1.00", "2.00", "3.00"):
        fresh.check_json(NAME, {**VALID, "kreditlimit": Decimal(limit)}, what="the payload")
    with pytest.raises(SchemaMismatch):
        fresh.check_json(NAME, {**VALID, "kreditlimit": Decimal("1.001")}, what="the payload")
    assert compiled == [NAME]


def test_only_what_depends_on_the_value_is_compiled() -> None:
    """A record of nullable text has nothing to check: no check, no cost per payload."""
    text = {"type": "record", "name": "T", "fields": [{"name": "a", "type": ["null", "string"]},
                                                      {"name": "b", "type": ["null", "boolean"]}]}
    assert compile_check(text) is None
    assert compile_check({**text, "fields": [*text["fields"], {"name": "c", "type": "string"}]}) is not None


def test_a_record_of_its_own_type_is_checked_at_every_depth() -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 3, "scale": 1}},
        {"name": "next", "type": ["null", "Node"]}]}
    check = compile_check({**node, "__named_schemas": {"Node": node}})
    assert check is not None
    check({"amount": Decimal("1.5"), "next": {"amount": Decimal("2.5"), "next": None}})
    with pytest.raises(FieldValueError) as raised:
        check({"amount": Decimal("1.5"), "next": {"amount": Decimal("2.5"), "next": {"amount": Decimal("100")}}})
    assert raised.value.field == "next.next.amount" and raised.value.decimal


def test_a_union_of_several_types_takes_a_value_one_of_them_takes() -> None:
    union = {"type": "record", "name": "U", "fields": [{"name": "u", "type": [
        "null", "long", {"type": "bytes", "logicalType": "decimal", "precision": 3, "scale": 0}]}]}
    check = compile_check(union)
    assert check is not None
    for value in (None, 2 ** 40, Decimal("999")):
        check({"u": value})
    with pytest.raises(FieldValueError, match="does not fit an Avro long"):
        check({"u": 2 ** 64})


@pytest.mark.parametrize("name", sorted(load_schemas().names()))
def test_every_record_of_every_schema_the_encoder_takes_goes_through(name: str) -> None:
    """Records generated from each schema of schemas/ (seeded; decimals within their precision, the rule above):
    whatever fastavro writes, the check takes."""
    schemas = load_schemas()
    parsed = schemas.parsed(name)
    check = compile_check(parsed)
    values = AvroValues(parsed.get("__named_schemas", {}), random.Random(name), within_precision=True)
    taken = 0
    for _ in range(200):
        value = values.of(dict(parsed))
        try:
            schemaless_writer(io.BytesIO(), parsed, value)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            continue  # a bytes field left out whose JSON default is text
        if check is not None:
            check(value)
        taken += 1
    assert taken >= 100


def test_the_reason_of_a_decimal_names_the_digits_before_the_point() -> None:
    reason = re.compile(r"has (\d+) digits \((\d+) before the point, (\d+) after\)")
    check = compile_check({"type": "record", "name": "D", "fields": [
        {"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}}]})
    assert check is not None
    with pytest.raises(FieldValueError) as raised:
        check({"d": Decimal("1E+3")})
    found = reason.search(raised.value.reason)
    assert found is not None and found.groups() == ("1", "4", "0")
