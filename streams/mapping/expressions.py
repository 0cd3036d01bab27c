"""A small, safe expression language for computed fields, e.g. ``on_hand - reserved``.

Python's expression syntax is parsed with :mod:`ast` and only a whitelist is compiled into closures:
literals, column names, ``+ - * / %``, comparisons (``==``, ``<``, ``in``, ``is None``…), ``and or not``,
``a if c else b``, lists, and calls of the functions in :data:`FUNCTIONS`. No attribute access, indexing,
lambdas or comprehensions: nothing reaches Python's ``eval``. Arithmetic with a null gives null (as in
SQL); decimal literals are exact. The text functions (``startswith``, ``iequals``, ``left``…) give null when
any argument is null, as SQL does; null is falsy in ``when`` and ``and``/``or``/``if``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal

from streams.mapping.exceptions import ExpressionError
from streams.mapping.kinds import ANY, ANY_SCALE, Kind

Evaluator = Callable[[Mapping[str, Any]], Any]


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _concat(*values: Any) -> str:
    return "".join("" if v is None else str(v) for v in values)


def _round(value: Any, places: int = 0) -> Any:
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _nullsafe(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else function(value)


def _present(values: tuple[Any, ...]) -> list[Any]:
    return [v for v in values if v is not None]


def _text(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` over the text of its arguments; null when any argument is null (SQL's rule)."""
    return lambda *values: None if any(v is None for v in values) else function(*(str(v) for v in values))


def _count(name: str, count: Any) -> int:
    if int(count) < 0:
        raise ValueError(f"{name}(text, {count}): the count must be 0 or more")
    return int(count)


def _left(text: Any, count: Any) -> Any:
    return None if text is None or count is None else str(text)[:_count("left", count)]


def _right(text: Any, count: Any) -> Any:
    if text is None or count is None:
        return None
    count = _count("right", count)
    return str(text)[-count:] if count else ""


def _lpad(text: Any, width: Any, fill: Any = " ") -> Any:
    """``text`` padded on the left with ``fill`` to ``width`` characters; never cut (unlike SQL's LPAD, whose
    cut makes two values one: a key ``lpad(mandant, 3, '0')`` of mandant 1001 stays ``1001``)."""
    if text is None or width is None or fill is None:
        return None
    fill = str(fill)
    if len(fill) != 1:
        raise ValueError(f"lpad(text, {width}, {fill!r}): the fill must be one character")
    return str(text).rjust(_count("lpad", width), fill)


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "coalesce": _coalesce,
    "concat": _concat,
    "upper": _nullsafe(lambda v: str(v).upper()),
    "lower": _nullsafe(lambda v: str(v).lower()),
    "trim": _nullsafe(lambda v: str(v).strip()),
    "length": _nullsafe(lambda v: len(v)),
    "abs": _nullsafe(abs),
    "round": _round,
    "min": lambda *v: min(_present(v), default=None),
    "max": lambda *v: max(_present(v), default=None),
    "str": _nullsafe(str),
    "int": _nullsafe(int),
    "decimal": _nullsafe(lambda v: Decimal(str(v))),
    "startswith": _text(str.startswith),
    "endswith": _text(str.endswith),
    "contains": _text(lambda text, part: part in text),
    "iequals": _text(lambda a, b: a.casefold() == b.casefold()),
    "replace": _text(str.replace),
    "left": _left,
    "right": _right,
    "lpad": _lpad,
}

#: When each function of :data:`FUNCTIONS` gives null: when ``all`` its arguments are (or it has none), when
#: ``any`` is, when its ``first`` is, or ``never``. Kept next to the functions so the checker agrees with them.
NULL_WHEN: Mapping[str, Literal["all", "any", "first", "never"]] = {
    "coalesce": "all", "min": "all", "max": "all",
    "concat": "never",
    "upper": "first", "lower": "first", "trim": "first", "length": "first", "abs": "first", "round": "first",
    "str": "first", "int": "first", "decimal": "first",
    "startswith": "any", "endswith": "any", "contains": "any", "iequals": "any", "replace": "any",
    "left": "any", "right": "any", "lpad": "any",
}

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}


class ExpressionSyntax(ValueError):
    """The text is not an expression of the language (the message says which construct)."""


@dataclass(frozen=True)
class Expression:
    """A compiled expression: the names it reads and a function of a row."""

    text: str
    names: frozenset[str]
    _evaluate: Evaluator

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        try:
            return self._evaluate(row)
        except ExpressionError:
            raise
        except (ArithmeticError, InvalidOperation, TypeError, ValueError) as exc:
            raise ExpressionError(f"{self.text!r} failed: {type(exc).__name__}: {exc}") from exc


class _Compiler:
    def __init__(self, text: str, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.text = text
        self.functions = functions
        self.names: set[str] = set()

    def fail(self, node: ast.AST, what: str) -> ExpressionSyntax:
        return ExpressionSyntax(f"{what} (column {getattr(node, 'col_offset', 0) + 1}) is not allowed; "
                                f"use column names, literals, operators and {', '.join(sorted(self.functions))}")

    def compile(self, node: ast.AST) -> Evaluator:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            name = node.id
            self.names.add(name)
            return lambda row: row.get(name)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            op = _ARITHMETIC[type(node.op)]
            left, right = self.compile(node.left), self.compile(node.right)

            def arithmetic(row: Mapping[str, Any]) -> Any:
                a, b = left(row), right(row)
                if a is None or b is None:
                    return None
                if isinstance(node.op, ast.Div) and b == 0:
                    raise ExpressionError(f"{self.text!r}: division by zero")
                return op(a, b)

            return arithmetic
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand)
            if isinstance(node.op, ast.Not):
                return lambda row: not operand(row)
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                sign = -1 if isinstance(node.op, ast.USub) else 1
                return lambda row: None if (v := operand(row)) is None else sign * v
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.IfExp):
            test, body, orelse = self.compile(node.test), self.compile(node.body), self.compile(node.orelse)
            return lambda row: body(row) if test(row) else orelse(row)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.compile(e) for e in node.elts]
            return lambda row: tuple(i(row) for i in items)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            if node.func.id not in self.functions:
                raise self.fail(node, f"function {node.func.id!r}")
            function = self.functions[node.func.id]
            args = [self.compile(a) for a in node.args]
            return lambda row: function(*(a(row) for a in args))
        raise self.fail(node, type(node).__name__)

    def constant(self, node: ast.Constant) -> Evaluator:
        value: Any = node.value
        if isinstance(value, float):
            literal = ast.get_source_segment(self.text, node) or repr(value)
            value = Decimal(literal)
        elif not isinstance(value, (str, int, bool)) and value is not None:
            raise self.fail(node, f"literal {value!r}")
        return lambda row: value

    def comparison(self, node: ast.Compare) -> Evaluator:
        left = self.compile(node.left)
        steps = []
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise self.fail(node, type(op).__name__)
            if isinstance(op, (ast.Is, ast.IsNot)) and not (isinstance(right, ast.Constant)
                                                            and right.value is None):
                raise self.fail(node, "`is` with anything but None")
            steps.append((op, _COMPARE[type(op)], self.compile(right)))

        def compare(row: Mapping[str, Any]) -> bool:
            a = left(row)
            for op, function, right_value in steps:
                b = right_value(row)
                if (a is None or b is None) and not isinstance(op, (ast.Is, ast.IsNot, ast.Eq, ast.NotEq)):
                    return False
                if not function(a, b):
                    return False
                a = b
            return True

        return compare


def compile_expression(text: str, functions: Mapping[str, Callable[..., Any]] = FUNCTIONS) -> Expression:
    """Compile ``text``; raises :class:`ExpressionSyntax` naming the construct that is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionSyntax(f"not an expression: {exc.msg} at column {exc.offset}") from exc
    compiler = _Compiler(text.strip(), functions)
    evaluate = compiler.compile(tree.body)
    return Expression(text=text.strip(), names=frozenset(compiler.names - set(functions)), _evaluate=evaluate)


_NUMBERS = ("int", "decimal", "float")


def kind_of(expression: Expression, columns: Mapping[str, Kind]) -> Kind:
    """The kind ``expression`` gives over columns of these kinds, so the loader can check it against its field:
    a number, a bool (a comparison, ``and``, ``or``, ``not``), else ``any``. A decimal's scale follows Python's
    decimal arithmetic: ``+``, ``-`` and ``%`` keep the larger scale, ``*`` adds the scales, ``/`` can give any
    number of decimals (:data:`~streams.mapping.kinds.ANY_SCALE`; two integers give a float), and
    ``round(x, n)`` has scale ``n``. It may be null exactly where the evaluator can give null: a comparison,
    ``and``, ``or``, ``not`` and ``concat`` never do (an ordering or ``in`` with a null is false, ``==`` and
    ``!=`` compare a null as a value, ``and``/``or`` give true or false); arithmetic and the text functions do
    when an operand may be; ``coalesce``, ``min`` and ``max`` when all their arguments may be; ``x if c else y``
    when ``x`` or ``y`` may be."""
    kinds = _Kinds(expression.text, columns)
    body = ast.parse(expression.text, mode="eval").body
    return kinds.of(body).but(nullable=kinds.may_be_null(body))


def narrowed_by(condition: Expression, columns: Mapping[str, Kind]) -> dict[str, Kind]:
    """The kinds of ``columns`` on the rows ``condition`` (a source's ``when``) lets through, where it says more
    than the column does: in each part of a top-level ``and``, ``c == 'x'`` and ``c in ('x', 'y')`` leave ``c``
    only those strings (an ENUM of 12 values filtered to two fills an enum field of those two), and these,
    ``c is not None``, ``c != None`` and a bare ``c`` (null is false in a ``when``) leave it not null. What the
    condition does not settle keeps its column's kind; ``or`` and ``not`` settle nothing."""
    body = ast.parse(condition.text, mode="eval").body
    parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
    narrowed: dict[str, Kind] = {}
    for part in parts:
        if isinstance(part, ast.Name) and part.id in columns:
            narrowed[part.id] = narrowed.get(part.id, columns[part.id]).but(nullable=False)
            continue
        if not (isinstance(part, ast.Compare) and len(part.ops) == 1 and isinstance(part.left, ast.Name)
                and part.left.id in columns):
            continue
        name, op, right = part.left.id, part.ops[0], part.comparators[0]
        kind = narrowed.get(name, columns[name])
        if isinstance(op, (ast.NotEq, ast.IsNot)) and isinstance(right, ast.Constant) and right.value is None:
            narrowed[name] = kind.but(nullable=False)
            continue
        values: list[object] | None = None
        if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
            values = [right.value]
        elif isinstance(op, ast.In) and isinstance(right, (ast.Tuple, ast.List, ast.Set)) \
                and all(isinstance(e, ast.Constant) for e in right.elts):
            values = [e.value for e in right.elts if isinstance(e, ast.Constant)]
        if values is None or None in values:
            continue
        strings = frozenset(v for v in values if isinstance(v, str))
        if kind.base == "string" and len(strings) == len(values):
            symbols = strings if kind.symbols is None else strings & kind.symbols
            narrowed[name] = kind.but(nullable=False, symbols=symbols, members=None)
        else:
            narrowed[name] = kind.but(nullable=False)
    return narrowed


def _scale(kind: Kind) -> int | None:
    return 0 if kind.base == "int" else kind.scale


def _arithmetic(op: ast.operator, left: Kind, right: Kind) -> Kind:
    bases = {left.base, right.base}
    if not bases <= set(_NUMBERS) or bases >= {"decimal", "float"}:  # a decimal and a float do not mix
        return ANY
    if "float" in bases or (isinstance(op, ast.Div) and bases == {"int"}):
        return Kind("float")
    if bases == {"int"}:
        return Kind("int", bits=_widest(left, right))
    if isinstance(op, ast.Div):
        return Kind("decimal", scale=ANY_SCALE)
    left_scale, right_scale = _scale(left), _scale(right)
    if left_scale is None or right_scale is None:
        return Kind("decimal")
    scale = left_scale + right_scale if isinstance(op, ast.Mult) else max(left_scale, right_scale)
    return Kind("decimal", scale=min(scale, ANY_SCALE))


def _widest(*kinds: Kind) -> int | None:
    """The most bits of integer ``kinds`` that say how many they need (an UNSIGNED column's), or None: an expression
    of an INT UNSIGNED column is taken to need its bits (``kdnr + 1`` included), not more."""
    known = [k.bits for k in kinds if k.bits is not None]
    return max(known) if known else None


def _either(kinds: list[Kind]) -> Kind:
    """The kind of a value that is one of ``kinds`` (``x if c else y``, ``coalesce``, ``min``, ``max``)."""
    bases = {k.base for k in kinds}
    if not kinds or not bases <= set(_NUMBERS) or bases >= {"decimal", "float"}:
        return ANY
    if bases == {"int"}:
        return Kind("int", bits=_widest(*kinds))
    if len(bases) == 1 and "decimal" not in bases:
        return kinds[0]
    if "float" in bases:
        return Kind("float")
    scales = [_scale(k) for k in kinds]
    return Kind("decimal", scale=None if None in scales else max(s for s in scales if s is not None))


class _Kinds:
    def __init__(self, text: str, columns: Mapping[str, Kind]) -> None:
        self.text = text
        self.columns = columns

    def of(self, node: ast.expr) -> Kind:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                return ANY
            if isinstance(node.value, int):
                return Kind("int")
            exponent = Decimal(ast.get_source_segment(self.text, node) or repr(node.value)).as_tuple().exponent
            return Kind("decimal", scale=max(0, -exponent) if isinstance(exponent, int) else None)
        if isinstance(node, ast.Name):
            kind = self.columns.get(node.id, ANY)
            return Kind(kind.base, scale=kind.scale, bits=kind.bits) if kind.base in _NUMBERS else ANY
        if isinstance(node, ast.BinOp):
            return _arithmetic(node.op, self.of(node.left), self.of(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return self.of(node.operand)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (isinstance(node, ast.UnaryOp)
                                                           and isinstance(node.op, ast.Not)):
            return Kind("bool")
        if isinstance(node, ast.IfExp):
            return self.either([node.body, node.orelse])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
            return self.call(node.func.id, node.args)
        return ANY

    def may_be_null(self, node: ast.expr) -> bool:
        """Whether the evaluator (:class:`_Compiler`) can give null for ``node``."""
        if isinstance(node, ast.Constant):
            return node.value is None
        if isinstance(node, ast.Name):
            return self.columns.get(node.id, ANY).nullable
        if isinstance(node, ast.BinOp):
            return self.may_be_null(node.left) or self.may_be_null(node.right)
        if isinstance(node, ast.UnaryOp):
            return not isinstance(node.op, ast.Not) and self.may_be_null(node.operand)
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.List, ast.Tuple)):
            return False
        if isinstance(node, ast.IfExp):
            return self.may_be_null(node.body) or self.may_be_null(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            nulls = [self.may_be_null(a) for a in node.args]
            when = NULL_WHEN.get(node.func.id)
            if when == "all":
                return all(nulls)
            if when == "any":
                return any(nulls)
            if when == "first":
                return not nulls or nulls[0]
            return when != "never"
        return True

    def either(self, nodes: list[ast.expr]) -> Kind:
        """A null literal among ``nodes`` adds no kind (``x if c else None``)."""
        return _either([self.of(n) for n in nodes if not (isinstance(n, ast.Constant) and n.value is None)])

    def call(self, function: str, args: list[ast.expr]) -> Kind:
        if function == "round":
            if len(args) == 1:
                return Kind("decimal", scale=0)
            given = args[1]
            places = given.value if isinstance(given, ast.Constant) and type(given.value) is int else None
            return Kind("decimal", scale=None if places is None else max(0, places))
        if function in ("coalesce", "min", "max"):
            return self.either(args)
        if function == "abs":
            return self.of(args[0])
        if function == "int":
            return Kind("int", bits=self.of(args[0]).bits)
        if function == "length":
            return Kind("int")
        if function == "decimal":
            inner = self.of(args[0])
            scale = {"int": 0, "decimal": inner.scale, "float": ANY_SCALE}.get(inner.base)
            return Kind("decimal", scale=scale)
        return ANY
