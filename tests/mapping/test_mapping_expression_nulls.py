"""Whether a computed field may be null is inferred exactly as the evaluator behaves: a comparison, ``and``,
``or``, ``not`` and ``concat`` never give null, arithmetic and the text functions do when an operand may be,
``coalesce``/``min``/``max`` when all arguments may be, ``x if c else None`` may. A non-null field takes a
value that cannot be null, and refuses one that can, at load."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.systems import reference_with, system
from support.till import FIRST_ADDED_LINE, PAYMENT_HEAD, till_tables

from streams.catalog.model import Column
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, MappingLoadError, RecordMapping, load_mapping
from streams.mapping.engine import Engine
from streams.mapping.exceptions import ExpressionError
from streams.mapping.expressions import FUNCTIONS, NULL_WHEN, compile_expression, kind_of
from streams.mapping.kinds import Kind
from streams.mapping.loader import Tables
from streams.systems import Engine as DatabaseEngine

#: Columns that may be null (a, b: decimals; s: text; at: a timestamp) and ones that may not (n, t).
KINDS = {"a": Kind("decimal", scale=2), "b": Kind("decimal", scale=2), "s": Kind("string"), "at": Kind("timestamp"),
         "n": Kind("int", nullable=False), "t": Kind("string", nullable=False)}
VALUES: Mapping[str, tuple[Any, ...]] = {
    "a": (None, Decimal("0.00"), Decimal("1.50")), "b": (None, Decimal("2.00")), "s": (None, "x", "gekündigt"),
    "at": (None, "2024-01-01T00:00:00Z"), "n": (0, 3), "t": ("", "xy")}


def rows() -> Iterator[dict[str, Any]]:
    for values in itertools.product(*VALUES.values()):
        yield dict(zip(VALUES, values, strict=True))


@pytest.mark.parametrize(
    ("text", "may_be_null"),
    [
        ("at is None", False),
        ("at is not None", False),
        ("at is None and s != 'gekündigt'", False),
        ("s == 'x'", False),
        ("a != b", False),
        ("a < b", False),
        ("a <= n < b", False),
        ("s in ['x', 'y']", False),
        ("s not in ['x']", False),
        ("not a", False),
        ("not s", False),
        ("a and b", False),
        ("s or a", False),
        ("[a, s]", False),
        ("a + n", True),
        ("n * 2 - 1", False),
        ("-a", True),
        ("-n", False),
        ("a if n > 0 else 1", True),
        ("n if a else None", True),
        ("n if s else 0", False),
        ("None", True),
        ("coalesce(a, 0)", False),
        ("coalesce(a, b)", True),
        ("min(a, n)", False),
        ("max(a, b)", True),
        ("concat(s, a)", False),
        ("upper(s)", True),
        ("upper(t)", False),
        ("length(t)", False),
        ("round(a, 1)", True),
        ("round(n, 1)", False),
        ("left(s, n)", True),
        ("left(t, n)", False),
        ("startswith(t, s)", True),
        ("startswith(t, 'x')", False),
        ("iequals(coalesce(s, ''), t)", False),
    ],
)
def test_nullability_agrees_with_what_the_evaluator_gives(text: str, may_be_null: bool) -> None:
    expression = compile_expression(text)
    assert kind_of(expression, KINDS).nullable is may_be_null
    results = []
    for row in rows():
        try:
            results.append(expression.evaluate(row))
        except ExpressionError:
            continue  # e.g. a decimal compared with text: an error, never a null
    assert (None in results) is may_be_null, results


@pytest.mark.parametrize("text", ["at is None", "s != 'x'", "a > b", "not s", "a and s", "at is None or n > 1"])
def test_a_comparison_or_logic_is_a_bool(text: str) -> None:
    assert kind_of(compile_expression(text), KINDS).base == "bool"


def test_every_function_says_when_it_gives_null() -> None:
    assert set(NULL_WHEN) == set(FUNCTIONS)


#: A till system on PostgreSQL: ``storniert_am`` (cancelled at) and ``notiz`` may be null.
COLUMNS = {
    "id": ("BIGINT", False), "beleg": ("BIGINT", False), "konto": ("BIGINT", False),
    "gezahlt_am": ("TIMESTAMP WITH TIME ZONE", False), "betrag": ("NUMERIC", False),
    "status": ("TEXT", False), "storniert_am": ("TIMESTAMP WITH TIME ZONE", True), "notiz": ("TEXT", True),
}

#: A Payment from the till; ``deleted`` (a non-null bool) is bound on line 15.
MAPPING = PAYMENT_HEAD + "      amount: betrag\n      deleted: {deleted}\n"
DELETED_LINE = FIRST_ADDED_LINE + 1


def _tables() -> Tables:
    return till_tables((Column(name=name, sql_type=sql_type, args=("14", "2") if sql_type == "NUMERIC" else (),
                               nullable=nullable) for name, (sql_type, nullable) in COLUMNS.items()), "postgresql")


@pytest.fixture
def load_deleted(schemas: SchemaSet, tmp_path: Path) -> Callable[[str], RecordMapping]:
    """Load the till mapping with ``deleted`` bound as given (YAML flow text)."""

    def loaded(deleted: str) -> RecordMapping:
        path = tmp_path / "payment.yaml"
        path.write_text(MAPPING.format(deleted=deleted), encoding="utf-8")
        return load_mapping(path, schemas=schemas, tables=_tables(),
                            systems=reference_with(system("kasse", engine=DatabaseEngine.POSTGRESQL)))

    return loaded


@pytest.mark.parametrize(
    "deleted",
    [
        '{compute: "storniert_am is not None or status == \'storniert\'"}',
        '{compute: "not (storniert_am is None and status != \'gekündigt\')"}',
        '{compute: "notiz != \'\'"}',
        '{compute: "storniert_am is not None", transform: [{default: false}]}',
        '{compute: "storniert_am is not None if notiz else False"}',
        '{compute: "coalesce(storniert_am is not None, False)"}',
    ],
)
def test_a_comparison_over_nullable_columns_fills_a_non_null_bool(
        load_deleted: Callable[[str], RecordMapping], deleted: str) -> None:
    assert load_deleted(deleted).target == "isthmus.canonical.Payment"


def test_the_trial_mappings_active_field_maps_a_null_time_to_true(
        load_deleted: Callable[[str], RecordMapping], schemas: SchemaSet, context: Context) -> None:
    mapping = load_deleted('{compute: "storniert_am is None and status != \'gekündigt\'"}')
    binding = mapping.sources[0].bindings["deleted"]
    engine = Engine(mapping, dict(schemas.named))
    assert engine.value(binding, {"storniert_am": None, "status": "aktiv"}, context) is True
    assert engine.value(binding, {"storniert_am": None, "status": "gekündigt"}, context) is False


@pytest.mark.parametrize(
    "deleted",
    [
        '{compute: "True if notiz else None"}',
        '{compute: "storniert_am is not None if notiz else None"}',
        '{compute: "coalesce(notiz, None) == \'x\' if id > 0 else None"}',
        '{compute: "status == \'storniert\' if id > 0 else None"}',  # over non-null columns only
    ],
)
def test_a_value_that_may_be_null_is_refused_for_a_non_null_field(
        load_deleted: Callable[[str], RecordMapping], tmp_path: Path, deleted: str) -> None:
    with pytest.raises(MappingLoadError) as caught:
        load_deleted(deleted)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (
        tmp_path / "payment.yaml", DELETED_LINE, "sources.kasse_zahlungen.fields.deleted")
    assert "the value may be null but the field is bool" in problem.message
    assert "`default: <value>`" in problem.fix


def test_a_default_makes_a_nullable_computed_value_fit(load_deleted: Callable[[str], RecordMapping]) -> None:
    assert load_deleted('{compute: "True if notiz else None", transform: [{default: false}]}')


def test_a_comparison_cannot_fill_a_text_field(schemas: SchemaSet, tmp_path: Path) -> None:
    path = tmp_path / "payment.yaml"
    path.write_text(MAPPING.format(deleted="false").replace("deleted: false", 'customer_number: {compute: "id > 1"}'),
                    encoding="utf-8")
    with pytest.raises(MappingLoadError) as caught:
        load_mapping(path, schemas=schemas, tables=_tables(),
                     systems=reference_with(system("kasse", engine=DatabaseEngine.POSTGRESQL)))
    (problem,) = caught.value.problems
    assert "a bool value cannot fill a nullable string field" in problem.message
