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
