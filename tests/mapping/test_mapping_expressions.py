"""The computed-field expression language: what it computes, and what it refuses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.mapping.exceptions import ExpressionError
from streams.mapping.expressions import ExpressionSyntax, compile_expression

ROW = {"on_hand": Decimal("10.500"), "reserved": Decimal("2.250"), "kind": "billing", "missing": None, "n": 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on_hand - reserved", Decimal("8.250")),
        ("on_hand * 2 + 0.1", Decimal("21.100")),
        ("-reserved", Decimal("-2.250")),
        ("n % 2", 1),
        ("on_hand - missing", None),
        ("kind == 'billing'", True),
        ("kind in ['billing', 'shipping']", True),
        ("missing is None", True),
        ("missing > 1", False),
        ("n > 1 and kind != 'x'", True),
        ("not (n > 1) or missing is not None", False),
        ("'a' if n == 3 else 'b'", "a"),
        ("coalesce(missing, n)", 3),
        ("concat(kind, '-', missing, n)", "billing-3"),
        ("upper(kind)", "BILLING"),
        ("round(on_hand / 4, 2)", Decimal("2.62")),
        ("max(n, missing, 7)", 7),
        ("decimal('1.10') + 0", Decimal("1.10")),
    ],
)
def test_values(text: str, expected: object) -> None:
    value = compile_expression(text).evaluate(ROW)
    assert value == expected and type(value) is type(expected)


def test_decimal_literals_are_exact() -> None:
    assert compile_expression("0.1 + 0.2").evaluate({}) == Decimal("0.3")


def test_names_are_the_columns_read() -> None:
    assert compile_expression("coalesce(a, b) + c").names == {"a", "b", "c"}


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "kind.upper()",
        "ROW['x']",
        "[x for x in kind]",
        "lambda: 1",
        "open('/etc/passwd')",
        "kind is 'billing'",
        "f'{kind}'",
        "(yield)",
    ],
)
def test_everything_else_is_refused(text: str) -> None:
    with pytest.raises(ExpressionSyntax, match=r"not allowed|not an expression"):
        compile_expression(text)


def test_runtime_failures_are_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        compile_expression("on_hand / (n - 3)").evaluate(ROW)
    with pytest.raises(ExpressionError, match="TypeError"):
        compile_expression("kind - n").evaluate(ROW)


TEXT = {"name": "Straße Nord GmbH", "email": "Sales@Example.COM", "sku": "SKU-0042", "missing": None, "n": 42}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("startswith(sku, 'SKU-')", True),
        ("startswith(sku, 'sku-')", False),
        ("endswith(name, 'GmbH')", True),
        ("endswith(email, '.com')", False),
        ("contains(email, '@Example')", True),
        ("contains(n, 4)", True),
        ("iequals(email, 'sales@example.com')", True),
        ("iequals(name, 'STRASSE NORD GMBH')", True),
        ("iequals(sku, 'SKU-0043')", False),
        ("replace(sku, 'SKU-', 'P-')", "P-0042"),
        ("left(sku, 3)", "SKU"),
        ("right(sku, 4)", "0042"),
        ("right(sku, 0)", ""),
        ("right(sku, 20)", "SKU-0042"),
        ("left(n, 1)", "4"),
        ("lpad(n, 5, '0')", "00042"),
        ("lpad(sku, 3, '0')", "SKU-0042"),  # never cut: two keys never become one
        ("concat(lpad(n, 4), '|')", "  42|"),
        ("'b2b' if endswith(lower(email), '.com') and not contains(name, 'AG') else 'other'", "b2b"),
    ],
)
def test_text_functions(text: str, expected: object) -> None:
    value = compile_expression(text).evaluate(TEXT)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "text",
    ["startswith(missing, 'a')", "startswith(sku, missing)", "endswith(missing, 'a')", "contains(missing, 'a')",
     "contains(name, missing)", "iequals(missing, missing)", "iequals(email, missing)",
     "replace(missing, 'a', 'b')", "replace(sku, 'S', missing)", "left(missing, 2)", "right(sku, missing)",
     "lpad(missing, 3, '0')", "lpad(sku, missing)"],
)
def test_text_functions_give_null_for_a_null_argument(text: str) -> None:
    assert compile_expression(text).evaluate(TEXT) is None


def test_a_null_text_test_is_false_in_a_condition_and_coalesce_decides() -> None:
    assert compile_expression("'yes' if startswith(missing, 'a') else 'no'").evaluate(TEXT) == "no"
    assert compile_expression("coalesce(iequals(missing, 'x'), True)").evaluate(TEXT) is True


def test_a_negative_count_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match=r"left\(text, -1\): the count must be 0 or more"):
        compile_expression("left(sku, -1)").evaluate(TEXT)
    with pytest.raises(ExpressionError, match=r"lpad\(text, 3, '00'\): the fill must be one character"):
        compile_expression("lpad(sku, 3, '00')").evaluate(TEXT)
