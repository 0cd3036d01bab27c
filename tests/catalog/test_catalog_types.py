"""What the engines print back is read as the type vocabulary the mapping kinds expect: CHECK IN lists, ENUM
values, and the kinds of the types that differ between engines."""

from __future__ import annotations

import pytest

from streams.catalog import Column
from streams.catalog.checks import enum_values, mysql_in_list, postgres_in_list
from streams.catalog.mysql import _column as mysql_column
from streams.mapping.kinds import ANY_SCALE, Kind, fits, from_column


def test_postgres_check_in_lists() -> None:
    assert postgres_in_list("CHECK ((kind = ANY (ARRAY['billing'::text, 'shipping'::text])))") == (
        "kind", ("billing", "shipping"))
    assert postgres_in_list("CHECK (((status)::text = ANY ((ARRAY['a'::character varying, "
                            "'it''s'::character varying])::text[])))") == ("status", ("a", "it's"))
    assert postgres_in_list("CHECK ((quantity > (0)::numeric))") is None
    assert postgres_in_list("CHECK ((customer_number ~ '^C-[0-9]{6,}$'::text))") is None


def test_mysql_check_in_lists_and_enum_values() -> None:
    assert mysql_in_list("`kind` in ('a','b''c')") == ("kind", ("a", "b'c"))
    assert mysql_in_list("json_valid(`doc`)") is None
    assert mysql_in_list("`qty` > 0 and `kind` in ('a')") is None
    assert enum_values("enum('reserved','it''s','a,b')") == ("reserved", "it's", "a,b")


@pytest.mark.parametrize(("column", "engine", "base", "scale"), [
    (Column(name="c", sql_type="TIMESTAMP WITH TIME ZONE"), "postgresql", "timestamp", None),
    (Column(name="c", sql_type="TIMESTAMP WITHOUT TIME ZONE"), "postgresql", "local_timestamp", None),
    (Column(name="c", sql_type="DATETIME", args=("3",)), "mariadb", "local_timestamp", None),
    (Column(name="c", sql_type="TIMESTAMP"), "mariadb", "timestamp", None),  # MariaDB/MySQL: stored in UTC
    (Column(name="c", sql_type="TINYINT", args=("1",)), "mariadb", "bool", None),
    (Column(name="c", sql_type="TINYINT", args=("4",)), "mysql", "int", None),
    (Column(name="c", sql_type="DECIMAL", args=("14", "3")), "mariadb", "decimal", 3),
    (Column(name="c", sql_type="NUMERIC", args=("14", "3")), "postgresql", "decimal", 3),
    (Column(name="c", sql_type="NUMERIC"), "postgresql", "decimal", ANY_SCALE),  # any number of decimals
    (Column(name="c", sql_type="DECIMAL"), "mariadb", "decimal", 0),  # DECIMAL(10,0)
    (Column(name="c", sql_type="CHARACTER VARYING", args=("64",)), "postgresql", "string", None),
    (Column(name="c", sql_type="ARRAY"), "postgresql", "array", None),  # text[], int[], ...: never a text
])
def test_kinds_of_catalog_types(column: Column, engine: str, base: str, scale: int | None) -> None:
    kind = from_column(column, engine)
    assert (kind.base, kind.scale) == (base, scale)


def test_allowed_values_and_nullability_reach_the_kind() -> None:
    kind = from_column(Column(name="s", sql_type="ENUM", nullable=False, allowed=("open", "paid")), "mariadb")
    assert kind.symbols == frozenset({"open", "paid"}) and not kind.nullable


def test_an_array_column_fills_an_array_field_and_no_text_field() -> None:
    tags = from_column(Column(name="tags", sql_type="ARRAY", nullable=False), "postgresql")
    assert fits(tags, Kind("array", nullable=False)) is None
    problem = fits(tags, Kind("string", nullable=False))
    assert problem is not None and problem[0] == "an array value cannot fill a string field"


@pytest.mark.parametrize(("column_type", "data_type", "unsigned"), [
    ("int(10) unsigned", "int", True), ("bigint(20) unsigned", "bigint", True),
    ("int(5) unsigned zerofill", "int", True),
    ("decimal(10,2) unsigned", "decimal", True), ("int(11)", "int", False), ("smallint(6)", "smallint", False)])
def test_mariadb_unsigned_is_read_from_column_type(column_type: str, data_type: str, unsigned: bool) -> None:
    column = mysql_column("kdnr", data_type, column_type, False, None)
    assert column.unsigned is unsigned and column.sql_type == data_type.upper()
    assert column.type_text.endswith(" UNSIGNED") is unsigned
