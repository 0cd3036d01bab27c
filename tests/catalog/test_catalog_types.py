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


def postgres_row(name: str, data_type: str, *, udt: tuple[str, str] = ("pg_catalog", "text"),
                 fraction: int | None = None, domain: tuple[str, str] | None = None, generated: str = "",
                 element: tuple[str, str] | None = None) -> tuple[object, ...]:
    """A row of postgres._COLUMNS: (table, column, data_type, udt_schema, udt_name, is_nullable, length, precision,
    scale, datetime_precision, domain_schema, domain_name, attgenerated, element data_type, element udt_name)."""
    return ("Debitor", name, data_type, *udt, "YES", None, None, None, fraction, *(domain or (None, None)), generated,
            *(element or (None, None)))


def test_postgres_records_a_declared_fraction_an_array_element_a_domain_check_and_generated() -> None:
    from streams.catalog.postgres import _column as postgres_column

    def column(row: tuple[object, ...], checked: dict[tuple[str, str], tuple[str, ...]] | None = None) -> Column:
        return postgres_column(row, {}, checked or {}, {("WaWi", "zahlart"): ("bar", "karte")})

    # PostgreSQL reports 6 for a TIMESTAMPTZ declared without a precision: only another one is recorded
    assert column(postgres_row("angelegt", "timestamp with time zone", fraction=0)).args == ("0",)
    assert column(postgres_row("geaendert", "timestamp with time zone", fraction=6)).args == ()
    assert column(postgres_row("zeit", "time without time zone", fraction=3)).args == ("3",)
    assert column(postgres_row("tag", "date", fraction=0)).args == ()  # a DATE's datetime_precision is 0
    tags = column(postgres_row("tags", "ARRAY", udt=("pg_catalog", "_text"), element=("text", "text")))
    assert (tags.sql_type, tags.args) == ("ARRAY", ("TEXT",))
    moods = column(postgres_row("moods", "ARRAY", udt=("WaWi", "_mood"), element=("USER-DEFINED", "mood")))
    assert moods.args == ("MOOD",)
    # a domain column is its base type, with the values its CHECK (VALUE IN (...)) allows, narrowed by a column check;
    # pg_get_constraintdef prints a domain's check with VALUE for the column
    assert postgres_in_list("CHECK (((VALUE)::text = ANY ((ARRAY['bar'::character varying, 'karte'::character "
                            "varying])::text[])))") == ("VALUE", ("bar", "karte"))
    zahlart = column(postgres_row("zahlart", "text", domain=("WaWi", "zahlart")))
    assert (zahlart.sql_type, zahlart.allowed) == ("TEXT", ("bar", "karte"))
    narrowed = column(postgres_row("zahlart", "text", domain=("WaWi", "zahlart")), {("Debitor", "zahlart"): ("karte",)})
    assert narrowed.allowed == ("karte",)
    anzeige = column(postgres_row("anzeige_name", "text", generated="s"))
    assert anzeige.generated == "stored" and column(postgres_row("name", "text")).generated is None



def test_a_partitioned_tables_replica_identity_is_its_partitions() -> None:
    from streams.catalog.postgres import _identity

    assert _identity("full", []) == "full"  # not partitioned, or no partition yet: its own
    assert _identity("full", ["full", "default"]) == "default"  # ALTER TABLE parent ... FULL reaches no partition
    assert _identity("default", ["full", "full"]) == "full"


def test_mariadb_records_a_sets_members_and_generated_columns() -> None:
    zahl = mysql_column("zahl", "set", "set('bar','karte','it''s')", False, None)
    assert (zahl.sql_type, zahl.allowed) == ("SET", ("bar", "karte", "it's"))
    assert mysql_column("v", "int", "int(11)", True, None, extra="VIRTUAL GENERATED").generated == "virtual"
    assert mysql_column("s", "int", "int(11)", True, None, extra="STORED GENERATED").generated == "stored"
    # MySQL 8 says DEFAULT_GENERATED of a column whose default is an expression: not a generated column
    assert mysql_column("t", "datetime", "datetime", True, None, extra="DEFAULT_GENERATED").generated is None


def test_a_set_value_is_any_comma_joined_combination_of_its_members() -> None:
    from streams.mapping.kinds import set_values

    zahl = from_column(Column(name="zahl", sql_type="SET", nullable=False, allowed=("bar", "karte")), "mariadb")
    assert zahl.base == "string" and zahl.symbols is None and zahl.members == ("bar", "karte")
    assert list(set_values(("bar", "karte"))) == ["", "bar", "karte", "bar,karte"]
    enum = Kind("string", nullable=False, symbols=frozenset({"bar", "karte"}), record="Zahlart")
    problem = fits(zahl, enum)
    assert problem is not None and problem[0] == (
        "a SET value is any combination of bar, karte joined by commas ('' when none), e.g. '', 'bar,karte', which "
        "Zahlart does not allow")
    every = Kind("string", nullable=False, symbols=frozenset({"", "bar", "karte", "bar,karte"}))
    assert fits(zahl, every) is None and fits(zahl, Kind("string", nullable=False)) is None
