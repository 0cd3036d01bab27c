"""A computed decimal cannot lose scale without an explicit rounding: an expression whose result can have more
decimals than its field (a division, a product of scales) is refused at load, with file, line, field and fix."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from support.systems import reference_with, system
from support.till import FIRST_ADDED_LINE, PAYMENT_HEAD, till_tables

from streams.catalog.model import Column
from streams.cli.main import main
from streams.codecs.avro.schemas import SchemaSet
from streams.mapping import Context, MappingLoadError, Problem, RecordMapping, load_mapping
from streams.mapping.decimals import quantize
from streams.mapping.engine import Engine
from streams.mapping.exceptions import MappingValueError
from streams.mapping.expressions import compile_expression, kind_of
from streams.mapping.kinds import ANY_SCALE, Kind
from streams.mapping.loader import MAPPINGS_DIR, Tables

REPOSITORY = Path(__file__).resolve().parents[2]
WHERE = "sources.kasse_zahlungen.fields.amount"

#: A made-up till system whose column names say nothing to the checker: only their types count.
COLUMNS = {
    "id": ("BIGINT", ()), "beleg": ("BIGINT", ()), "konto": ("BIGINT", ()), "gezahlt_am": ("TIMESTAMP", ()),
    "kreditrahmen": ("DECIMAL", ("12", "2")), "zuschlag": ("DECIMAL", ("12", "2")),
    "anteil": ("DECIMAL", ("6", "4")), "stueck": ("INT", ()), "teiler": ("INT", ()),
    "kurs": ("DOUBLE", ()),  # a float column
    "offen": ("NUMERIC", ()),  # declared without precision and scale: PostgreSQL's holds any, MariaDB's is (10,0)
}

#: A Payment (amount: a decimal of scale 2) from the till; the amount's binding is on line 14.
MAPPING = PAYMENT_HEAD + "      amount: {amount}\n"
AMOUNT_LINE = FIRST_ADDED_LINE


def _tables(engine: str = "mariadb") -> Tables:
    return till_tables((Column(name=name, sql_type=sql_type, args=args, nullable=False)
                        for name, (sql_type, args) in COLUMNS.items()), engine)


@pytest.fixture
def load_amount(schemas: SchemaSet, tmp_path: Path) -> Callable[[str], RecordMapping]:
    """Load the till mapping with ``amount`` bound as given (YAML flow text)."""

    def loaded(amount: str) -> RecordMapping:
        path = tmp_path / "payment.yaml"
        path.write_text(MAPPING.format(amount=amount), encoding="utf-8")
        return load_mapping(path, schemas=schemas, tables=_tables(), systems=reference_with(system("kasse")))

    return loaded


def refused(load_amount: Callable[[str], RecordMapping], amount: str) -> Problem:
    with pytest.raises(MappingLoadError) as caught:
        load_amount(amount)
    (problem,) = caught.value.problems
    return problem


@pytest.mark.parametrize(
    "expression",
    [
        "kreditrahmen / 3",
        "(kreditrahmen + zuschlag) / 2",
        "kreditrahmen / zuschlag",
        "kreditrahmen / stueck",
        "kreditrahmen - zuschlag / 4",
        "coalesce(kreditrahmen / 3, 0)",
        "kreditrahmen / 3 if stueck > 0 else kreditrahmen",
        "abs(-kreditrahmen / teiler)",
        "decimal(stueck) / teiler",
    ],
)
def test_a_division_without_rounding_is_refused_with_file_line_field_and_fix(
        load_amount: Callable[[str], RecordMapping], tmp_path: Path, expression: str) -> None:
    problem = refused(load_amount, f'{{compute: "{expression}"}}')
    assert (problem.file, problem.line, problem.field) == (tmp_path / "payment.yaml", AMOUNT_LINE, WHERE)
    assert problem.message.startswith(f"compute {expression!r}: a decimal with any number of decimals")
    assert "would lose digits in a field of scale 2" in problem.message
    assert "`decimal: {scale: 2, rounding: half_even}`" in problem.fix
    assert str(problem).startswith(f"{tmp_path / 'payment.yaml'}:{AMOUNT_LINE}: {WHERE}: compute {expression!r}")


@pytest.mark.parametrize(
    ("expression", "scale"),
    [
        ("kreditrahmen * zuschlag", 4),
        ("kreditrahmen * anteil", 6),
        ("kreditrahmen * 1.5", 3),
        ("anteil + 1", 4),
        ("round(kreditrahmen / 3, 2) + anteil", 4),
        ("max(kreditrahmen, anteil)", 4),
    ],
)
def test_a_result_whose_scale_exceeds_the_field_is_refused(
        load_amount: Callable[[str], RecordMapping], expression: str, scale: int) -> None:
    problem = refused(load_amount, f'{{compute: "{expression}"}}')
    assert (problem.line, problem.field) == (AMOUNT_LINE, WHERE)
    assert f"a decimal with scale {scale} would lose digits in a field of scale 2" in problem.message
    assert "rounding: half_even" in problem.fix


def test_a_decimal_step_without_rounding_does_not_make_a_division_safe(
        load_amount: Callable[[str], RecordMapping]) -> None:
    problem = refused(load_amount, '{compute: "kreditrahmen / 3", transform: [{decimal: {scale: 2}}]}')
    assert (problem.line, problem.field) == (AMOUNT_LINE, f"{WHERE} transform: decimal")
    assert "any number of decimals" in problem.message and "down to 2 can drop digits" in problem.message
    assert "rounding: half_even" in problem.fix


def test_a_division_of_integers_is_a_float_and_is_refused_with_the_decimal_way(
        load_amount: Callable[[str], RecordMapping]) -> None:
    problem = refused(load_amount, '{compute: "stueck / teiler"}')
    assert (problem.line, problem.field) == (AMOUNT_LINE, WHERE)
    assert "a float value cannot fill a decimal(scale 2) field" in problem.message
    assert "decimal(a) / b" in problem.fix and "rounding: half_even" in problem.fix


@pytest.mark.parametrize("amount", ["kurs", "{from: kurs, transform: [{decimal: {scale: 2}}]}"])
def test_a_float_column_is_refused_with_the_way_to_make_it_a_decimal(
        load_amount: Callable[[str], RecordMapping], amount: str) -> None:
    problem = refused(load_amount, amount)
    assert 'compute: "decimal(<column>)"' in problem.fix and "DOUBLE" in problem.fix


def test_the_way_the_float_hint_gives_loads(load_amount: Callable[[str], RecordMapping]) -> None:
    mapping = load_amount('{compute: "decimal(kurs)", transform: [{decimal: {scale: 2, rounding: half_even}}]}')
    assert [s.name for s in mapping.sources] == ["kasse_zahlungen"]


def _load_text(schemas: SchemaSet, tmp_path: Path, text: str, engine: str = "mariadb") -> RecordMapping:
    path = tmp_path / "payment.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path, schemas=schemas, tables=_tables(engine), systems=reference_with(system("kasse")))


def _only_problem(schemas: SchemaSet, tmp_path: Path, text: str, engine: str = "mariadb") -> Problem:
    with pytest.raises(MappingLoadError) as caught:
        _load_text(schemas, tmp_path, text, engine)
    (problem,) = caught.value.problems
    return problem


def test_a_summed_division_is_refused(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = _only_problem(schemas, tmp_path, MAPPING.format(amount='{sum: "kreditrahmen / stueck"}').replace(
        "    table: zahlungen\n", "    table: zahlungen\n    group_by: [konto]\n"))
    assert (problem.line, problem.field) == (AMOUNT_LINE + 1, WHERE)
    assert problem.message.startswith("sum 'kreditrahmen / stueck': a decimal with any number of decimals")


@pytest.mark.parametrize(
    "amount",
    [
        '{compute: "kreditrahmen + zuschlag"}',
        '{compute: "kreditrahmen - zuschlag + 1"}',
        '{compute: "kreditrahmen * 2"}',
        '{compute: "kreditrahmen * stueck - 0.5"}',
        '{compute: "-kreditrahmen % 7"}',
        '{compute: "abs(kreditrahmen) + 0.25"}',
        '{compute: "kreditrahmen if stueck > 0 else 0"}',
        '{compute: "coalesce(kreditrahmen, zuschlag, 0)"}',
        '{compute: "round(kreditrahmen / 3, 2)"}',
        '{compute: "round((kreditrahmen + zuschlag) / 2, 2)"}',
        '{compute: "round(kreditrahmen * anteil, 1)"}',
        '{compute: "round(stueck / teiler)"}',
        '{compute: "kreditrahmen / 3", transform: [{decimal: {scale: 2, rounding: half_even}}]}',
        '{compute: "(kreditrahmen + zuschlag) / stueck", transform: [{decimal: {scale: 2, rounding: half_up}}]}',
        '{compute: "kreditrahmen * anteil", transform: [{decimal: {scale: 2, rounding: down}}]}',
        '{compute: "decimal(stueck) / teiler", transform: [{decimal: {scale: 2, rounding: half_even}}]}',
    ],
)
def test_safe_expressions_and_explicitly_rounded_ones_load(
        load_amount: Callable[[str], RecordMapping], amount: str) -> None:
    assert load_amount(amount).target == "isthmus.canonical.Payment"


def test_a_rounded_division_maps_to_the_rounded_value(load_amount: Callable[[str], RecordMapping],
                                                      schemas: SchemaSet, context: Context) -> None:
    mapping = load_amount('{compute: "kreditrahmen / 3", transform: [{decimal: {scale: 2, rounding: half_even}}]}')
    binding = mapping.sources[0].bindings["amount"]
    row = {"kreditrahmen": Decimal("1.00"), "stueck": 1}
    assert Engine(mapping, dict(schemas.named)).value(binding, row, context) == Decimal("0.33")


@pytest.mark.parametrize(
    "invoice_id",
    [
        '{compute: "round(kreditrahmen)"}',
        '{compute: "stueck * 2 + konto"}',
        '{compute: "kreditrahmen * 2", transform: [{decimal: {scale: 0, rounding: up}}]}',
    ],
)
def test_an_int_field_takes_a_whole_number(schemas: SchemaSet, tmp_path: Path, invoice_id: str) -> None:
    _load_text(schemas, tmp_path, MAPPING.format(amount="kreditrahmen").replace("invoice_id: beleg",
                                                                                f"invoice_id: {invoice_id}"))


def test_an_int_field_refuses_a_decimal_with_decimals(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = _only_problem(schemas, tmp_path, MAPPING.format(amount="kreditrahmen").replace(
        "invoice_id: beleg", 'invoice_id: {compute: "kreditrahmen * 2"}'))
    assert (problem.line, problem.field) == (11, "sources.kasse_zahlungen.fields.invoice_id")
    assert "a decimal with scale 2 would lose digits in an integer field" in problem.message
    assert "`decimal: {scale: 0, rounding: half_even}`" in problem.fix


def test_a_postgres_numeric_without_precision_is_refused_with_the_rounding_and_the_precision(
        schemas: SchemaSet, tmp_path: Path) -> None:
    problem = _only_problem(schemas, tmp_path, MAPPING.format(amount="offen"), "postgresql")
    assert (problem.file, problem.line, problem.field) == (tmp_path / "payment.yaml", AMOUNT_LINE, WHERE)
    assert problem.message == (
        "a decimal with any number of digits and decimals (a NUMERIC column declared without precision and scale) "
        "would lose digits in a field of scale 2, and one with more than 12 integer digits does not fit its "
        "precision 14 at all")
    assert problem.fix.startswith("add the transform `decimal: {scale: 2, rounding: half_even}`")
    assert "declare the column NUMERIC(14,2)" in problem.fix


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ('{compute: "offen + zuschlag"}', "compute 'offen + zuschlag': a decimal with any number of decimals"),
        ('{from: offen, transform: [{decimal: {scale: 2}}]}', "any number of decimals (as a division gives, 1/3 is "
                                                              "0.333…, or a NUMERIC column declared without scale) "
                                                              "down to 2 can drop digits"),
    ],
)
def test_a_postgres_numeric_without_precision_needs_a_rounding_in_a_computation_too(
        schemas: SchemaSet, tmp_path: Path, binding: str, message: str) -> None:
    problem = _only_problem(schemas, tmp_path, MAPPING.format(amount=binding), "postgresql")
    assert problem.message.startswith(message)


def test_a_postgres_numeric_without_precision_cannot_fill_an_integer(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = _only_problem(schemas, tmp_path, MAPPING.format(amount="kreditrahmen").replace(
        "invoice_id: beleg", "invoice_id: offen"), "postgresql")
    assert (problem.line, problem.field) == (11, "sources.kasse_zahlungen.fields.invoice_id")
    assert problem.message.startswith("a decimal with any number of digits and decimals (a NUMERIC column")
    assert "`decimal: {scale: 0, rounding: half_even}`" in problem.fix


def test_a_rounded_postgres_numeric_loads_and_rounds(schemas: SchemaSet, tmp_path: Path, context: Context) -> None:
    mapping = _load_text(schemas, tmp_path, MAPPING.format(
        amount="{from: offen, transform: [{decimal: {scale: 2, rounding: half_up}}]}"), "postgresql")
    binding = mapping.sources[0].bindings["amount"]
    assert Engine(mapping, dict(schemas.named)).value(binding, {"offen": Decimal("1234.567")}, context) == \
        Decimal("1234.57")


def test_a_mariadb_decimal_without_arguments_is_whole_and_fills_a_scale_2_field(
        schemas: SchemaSet, tmp_path: Path) -> None:
    assert _load_text(schemas, tmp_path, MAPPING.format(amount="offen"), "mariadb").target == \
        "isthmus.canonical.Payment"


D2, D4, INT = Kind("decimal", scale=2), Kind("decimal", scale=4), Kind("int")


@pytest.mark.parametrize(
    ("text", "base", "scale"),
    [
        ("a + b", "decimal", 2),
        ("a * b", "decimal", 4),
        ("a * c", "decimal", 6),
        ("a * n", "decimal", 2),
        ("a * 2", "decimal", 2),
        ("a + 0.125", "decimal", 3),
        ("a % c", "decimal", 4),
        ("a / 2", "decimal", ANY_SCALE),
        ("(a + b) / n", "decimal", ANY_SCALE),
        ("round(a / b, 3)", "decimal", 3),
        ("round(a / b)", "decimal", 0),
        ("n * 3 - n", "int", None),
        ("n / 2", "float", None),
        ("decimal(n / 2)", "decimal", ANY_SCALE),
        ("a if n > 1 else None", "decimal", 2),
        ("concat(a, b)", "any", None),
        ("a > b", "bool", None),
    ],
)
def test_kind_of_follows_decimal_arithmetic(text: str, base: str, scale: int | None) -> None:
    kind = kind_of(compile_expression(text), {"a": D2, "b": D2, "c": D4, "n": INT})
    assert (kind.base, kind.scale) == (base, scale)


@pytest.mark.parametrize(
    ("folder", "systems"),
    [
        (MAPPINGS_DIR, None),
        (REPOSITORY / "mappings" / "examples", None),
        (REPOSITORY / "examples" / "tryton" / "mappings", REPOSITORY / "examples" / "tryton" / "systems"),
        (REPOSITORY / "tests" / "second_pair" / "mappings", REPOSITORY / "tests" / "second_pair" / "systems"),
    ],
)
def test_the_shipped_mappings_and_examples_stay_valid(folder: Path, systems: Path | None,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    if systems is not None:
        monkeypatch.setenv("ISTHMUS_SYSTEMS_DIR", str(systems))
    assert main(["mappings", "validate", "--dir", str(folder)]) == 0, capsys.readouterr().out
    assert "are valid" in capsys.readouterr().out


def test_validate_prints_the_lossy_division(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "invoice.yaml").write_text(
        "target: Invoice\nkey: invoice_id\nowner: erp\npolicy: owner_wins\nsources:\n  s:\n    system: erp\n"
        "    table: invoices\n    fields:\n      invoice_id: invoice_id\n      invoice_no: invoice_no\n"
        "      erp_order_id: order_id\n      erp_account_id: account_id\n      amount: {compute: \"amount / 3\"}\n"
        "      issued_at: {from: issued_at, transform: [local_to_utc]}\n      due_date: due_date\n",
        encoding="utf-8")
    assert main(["mappings", "validate", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert (f"{tmp_path / 'invoice.yaml'}:14: sources.s.fields.amount: compute 'amount / 3': a decimal with any "
            "number of decimals") in out
    assert "fix: add the transform `decimal: {scale: 2, rounding: half_even}`" in out


def test_a_postgres_numeric_without_scale_may_be_refused_at_run_time_by_an_explicit_exact(
        schemas: SchemaSet, tmp_path: Path, context: Context) -> None:
    """``rounding: exact`` written out: a value that fits scale 2 goes through as it is, one that does not is refused
    when it comes, naming the value and the rounding that would take it (no silent rounding forced at load)."""
    mapping = _load_text(schemas, tmp_path, MAPPING.format(
        amount="{from: offen, transform: [{decimal: {scale: 2, rounding: exact}}]}"), "postgresql")
    engine = Engine(mapping, dict(schemas.named))
    binding = mapping.sources[0].bindings["amount"]
    assert engine.value(binding, {"offen": Decimal("12.5")}, context) == Decimal("12.50")
    with pytest.raises(MappingValueError, match=r"12\.345 has more than 2 decimals.*rounding: half_even"):
        engine.value(binding, {"offen": Decimal("12.345")}, context)


def test_a_decimal_step_without_a_rounding_still_names_exact_as_a_fix(schemas: SchemaSet, tmp_path: Path) -> None:
    problem = _only_problem(schemas, tmp_path, MAPPING.format(
        amount="{from: offen, transform: [{decimal: {scale: 2}}]}"), "postgresql")
    assert "rounding: half_even" in problem.fix and "`rounding: exact` to refuse at run time" in problem.fix


@pytest.mark.parametrize("rounding", ["exact", "half_even"])
def test_a_value_of_more_than_28_digits_fits_a_scale_its_precision_allows(rounding: str) -> None:
    """Python's default decimal context keeps 28 digits: 123456789012345678901234.5 with 10 decimals (34 digits,
    which a decimal(38,10) holds) was refused "does not fit scale 10"."""
    value = Decimal("123456789012345678901234.5")
    assert quantize(value, 10, rounding) == Decimal("123456789012345678901234.5000000000")
    assert str(quantize(value, 10, rounding)).endswith(".5000000000")
    assert quantize(Decimal("123456789012345678901234.56789012345"), 10, "half_even") == Decimal(
        "123456789012345678901234.5678901234")
