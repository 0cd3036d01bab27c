"""A PostgreSQL NUMERIC's NaN and infinities fill no decimal field. Under the connector's ``decimal.handling.mode:
string`` Debezium sends them as text (``NAN``, ``POSITIVE_INFINITY``, ``NEGATIVE_INFINITY``), and a mapping refuses
them as what they are, naming the binding and the column and the fix, whichever way the text reaches the field: a
``decimal:`` step (which read NaN as a number, and with a rounding passed it on to be refused as "more than 2
decimals"), the field itself, or ``parse_json``. Other decimal text in a decimal field says why it is text."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.systems import reference_with, system
from support.till import PAYMENT_HEAD, till_tables

from streams.catalog.model import Column
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, RecordMapping, load_mapping
from streams.mapping.decimals import from_text, quantize
from streams.mapping.engine import Engine
from streams.mapping.exceptions import MappingValueError, NotANumber
from streams.mapping.json_text import parse_json_text

pytestmark = pytest.mark.unit

COLUMNS = {"id": "BIGINT", "beleg": "BIGINT", "konto": "BIGINT", "gezahlt_am": "TIMESTAMP WITH TIME ZONE",
           "betrag": "NUMERIC"}
SPELLINGS = ["NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY", "NaN", "Infinity", "-Infinity", "nan", " NAN "]


def _mapping(schemas: SchemaSet, tmp_path: Path, amount: str) -> RecordMapping:
    path = tmp_path / "payment.yaml"
    path.write_text(PAYMENT_HEAD + f"      amount: {amount}\n", encoding="utf-8")
    columns = (Column(name=name, sql_type=sql_type, args=("14", "2") if name == "betrag" else (), nullable=False)
               for name, sql_type in COLUMNS.items())
    return load_mapping(path, schemas=schemas, tables=till_tables(columns, "postgresql"),
                        systems=reference_with(system("kasse")))


def _amount(schemas: SchemaSet, mapping: RecordMapping, context: Context, value: Any) -> Any:
    binding = mapping.sources[0].bindings["amount"]
    return Engine(mapping, dict(schemas.named)).value(binding, {"betrag": value}, context)


@pytest.mark.parametrize("text", SPELLINGS)
@pytest.mark.parametrize("amount", ["{from: betrag, transform: [{decimal: {scale: 2}}]}",
                                    "{from: betrag, transform: [{decimal: {scale: 2, rounding: half_even}}]}",
                                    "betrag"])
def test_nan_and_infinity_as_text_are_refused_naming_binding_column_and_fix(
        schemas: SchemaSet, tmp_path: Path, context: Context, amount: str, text: str) -> None:
    mapping = _mapping(schemas, tmp_path, amount)
    with pytest.raises(NotANumber) as caught:
        _amount(schemas, mapping, context, text)
    message = str(caught.value)
    assert message.startswith(f"payment.yaml:14 amount (column betrag): {text!r} is NaN or an infinity, which no "
                              "decimal field holds")
    assert "decimal.handling.mode: string" in message
    assert "fix: set the row's value to a number or NULL in the source" in message
    assert "CHECK (betrag NOT IN ('NaN', 'Infinity', '-Infinity'))" in message


def test_a_nan_decimal_is_refused_as_nan_not_as_too_many_decimals(
        schemas: SchemaSet, tmp_path: Path, context: Context) -> None:
    mapping = _mapping(schemas, tmp_path, "betrag")
    with pytest.raises(NotANumber, match=r"^payment.yaml:14 amount \(column betrag\): 'NaN' is NaN or an infinity"):
        _amount(schemas, mapping, context, Decimal("NaN"))
    with pytest.raises(NotANumber, match=r"^'-Infinity' is NaN or an infinity"):
        quantize(Decimal("-Infinity"), 2, "half_even")


def test_decimal_text_in_a_decimal_field_says_it_is_the_connectors_string_mode(
        schemas: SchemaSet, tmp_path: Path, context: Context) -> None:
    with pytest.raises(MappingValueError) as caught:
        _amount(schemas, _mapping(schemas, tmp_path, "betrag"), context, "12.50")
    assert str(caught.value) == (
        "payment.yaml:14 amount: expected an exact number, got text '12.50': a NUMERIC column arrives as text when "
        "its connector sets decimal.handling.mode: string; keep `precise` (connect-configs/README.md), or bind it "
        "through the transform `decimal: {scale: 2}`")
    through_step = _mapping(schemas, tmp_path, "{from: betrag, transform: [{decimal: {scale: 2}}]}")
    assert _amount(schemas, through_step, context, "12.50") == Decimal("12.50")


def test_text_that_is_no_number_is_still_said_so() -> None:
    with pytest.raises(MappingValueError) as caught:
        from_text("zwölf")
    assert not isinstance(caught.value, NotANumber) and str(caught.value) == "'zwölf' is not a number"


def test_parse_json_refuses_a_nan_decimal_at_its_path() -> None:
    schema = {"type": "record", "name": "Line", "fields": [
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}}]}
    with pytest.raises(NotANumber, match=r"^kommentare\.price: 'NaN' is NaN or an infinity"):
        parse_json_text('{"price": "NaN"}', schema, {}, "kommentare")
