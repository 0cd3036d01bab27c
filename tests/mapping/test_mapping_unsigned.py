"""An UNSIGNED MariaDB/MySQL integer holds values its signed type does not: an INT UNSIGNED (up to 4294967295)
fills an Avro long but not an int, and a BIGINT UNSIGNED fits no Avro integer. The mapping check refuses what does
not fit, a computed value of such a column included, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.systems import reference_with, system
from support.till import FIRST_ADDED_LINE, PAYMENT_HEAD, till_tables

from streams.catalog.model import Column
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import MappingLoadError, RecordMapping, load_mapping
from streams.mapping.expressions import compile_expression, kind_of
from streams.mapping.kinds import fits, from_avro, from_column

INT_UNSIGNED = Column(name="kdnr", sql_type="INT", nullable=False, unsigned=True)
BIGINT_UNSIGNED = Column(name="big", sql_type="BIGINT", nullable=False, unsigned=True)
AVRO_INT, AVRO_LONG = from_avro("int", {}), from_avro("long", {})


def test_an_int_unsigned_column_fills_a_long_but_not_an_int() -> None:
    kind = from_column(INT_UNSIGNED, "mariadb")
    assert fits(kind, AVRO_LONG) is None
    problem = fits(kind, AVRO_INT)
    assert problem == ("an INT UNSIGNED value (up to 4294967295) does not fit an Avro int (at most 2147483647)",
                       "make the field a `long` in the schema")


def test_smaller_unsigned_and_signed_columns_fill_an_int_as_before() -> None:
    """A signed BIGINT does not (test_mapping_integer_widths.py)."""
    for column in (Column(name="s", sql_type="SMALLINT", unsigned=True, nullable=False),
                   Column(name="m", sql_type="MEDIUMINT", unsigned=True, nullable=False),
                   Column(name="i", sql_type="INT", nullable=False)):
        assert fits(from_column(column, "mariadb"), AVRO_INT) is None, column


def test_a_bigint_unsigned_column_fits_no_avro_integer_and_says_so() -> None:
    kind = from_column(BIGINT_UNSIGNED, "mariadb")
    message, fix = fits(kind, AVRO_LONG) or ("", "")
    assert message == ("a BIGINT UNSIGNED value (up to 18446744073709551615) does not fit an Avro long, nor any Avro "
                       "integer (a long holds at most 9223372036854775807)")
    assert "precision: 20, scale: 0" in fix and "bigint.unsigned.handling.mode: precise" in fix
    assert fits(kind, AVRO_INT) is not None
    assert fits(kind, from_avro({"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}, {})) is None


@pytest.mark.parametrize("text", ["kdnr", "kdnr + 1", "-kdnr", "abs(kdnr)", "int(kdnr)", "coalesce(kdnr, 0)",
                                  "max(kdnr, 7)", "kdnr if kdnr > 5 else 5", "mandant * 100000 + kdnr"])
def test_an_expression_of_an_int_unsigned_column_does_not_fill_an_int(text: str) -> None:
    columns = {"kdnr": from_column(INT_UNSIGNED, "mariadb"),
               "mandant": from_column(Column(name="mandant", sql_type="SMALLINT", nullable=False), "mariadb")}
    kind = kind_of(compile_expression(text), columns)
    assert kind.base == "int" and kind.bits == 33
    assert fits(kind, AVRO_INT) is not None and fits(kind, AVRO_LONG) is None


def _load(schemas: SchemaSet, tmp_path: Path, text: str) -> RecordMapping:
    path = tmp_path / "payment.yaml"
    path.write_text(text, encoding="utf-8")
    columns = (Column(name="id", sql_type="BIGINT", nullable=False, unsigned=True),
               Column(name="beleg", sql_type="INT", nullable=False, unsigned=True),
               Column(name="konto", sql_type="BIGINT", nullable=False),
               Column(name="gezahlt_am", sql_type="TIMESTAMP", nullable=False),
               Column(name="betrag", sql_type="DECIMAL", args=("12", "2"), nullable=False))
    return load_mapping(path, schemas=schemas, tables=till_tables(columns, "mariadb"),
                        systems=reference_with(system("kasse")))


def test_a_mapping_of_a_bigint_unsigned_key_into_a_long_is_refused_at_load(schemas: SchemaSet,
                                                                          tmp_path: Path) -> None:
    text = PAYMENT_HEAD + "      amount: betrag\n"
    with pytest.raises(MappingLoadError) as caught:
        _load(schemas, tmp_path, text)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == (10, "sources.kasse_zahlungen.fields.payment_id")
    assert "a BIGINT UNSIGNED value (up to 18446744073709551615) does not fit an Avro long" in problem.message
    # the INT UNSIGNED invoice_id (line 11) fills its long field; a signed BIGINT key loads as before
    assert FIRST_ADDED_LINE == 14
    _load(schemas, tmp_path, text.replace("payment_id: id", "payment_id: konto"))


def test_a_time_column_fills_a_time_of_day_field_and_nothing_else_is_named_a_time() -> None:
    """A TIME column into a field of one's own schema, ``{type: long, logicalType: time-micros}``: once refused
    as "a nullable time value cannot fill a nullable int field"."""
    column = from_column(Column(name="call_at", sql_type="TIME", nullable=True), "mariadb")
    for logical, base in (("time-micros", "long"), ("time-millis", "int")):
        field = from_avro(["null", {"type": base, "logicalType": logical}], {})
        assert fits(column, field) is None
        text = from_column(Column(name="n", sql_type="TEXT", nullable=True), "postgresql")
        message, _ = fits(text, field) or ("", "")
        assert message == "a nullable string value cannot fill a nullable time field"
