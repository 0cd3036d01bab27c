"""The ``--where`` language: comparisons of dotted field paths with literals, joined by and/or/not.

``after.name == "Acme"``, ``payload_type ~ Account`` (regular-expression search; a bare word is a string),
``after.credit_limit > 1000 and not after.blocked``. Parsed into a tree,
never evaluated by Python's ``eval``. A path that does not exist in a record is ``null``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from streams.inspect.exceptions import BadExpression

Predicate = Callable[[Any], bool]

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>|~|!~|\(|\))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.-]))
  | (?P<word>[A-Za-z_$@][\w$@.\-\[\]]*)
""", re.VERBOSE)
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">", "~", "!~")
_KEYWORDS = {"true": True, "false": False, "null": None, "none": None}


@dataclass(frozen=True, kw_only=True)
class Token:
    kind: str
    text: str
    at: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise BadExpression(f"cannot read {text[at:at + 10]!r} at column {at + 1} of --where {text!r}; "
                                "quote strings with \"...\" and use == != < <= > >= ~ !~ and or not ( )")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind=kind, text=match.group(), at=at))
        at = match.end()
    return tokens


def resolve(value: Any, path: str) -> Any:
    """The value at dotted ``path`` (``after.name``, ``lines[0].sku``); ``None`` where a step is missing."""
    current = value
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            current = current[index] if isinstance(current, (list, tuple)) and index < len(current) else None
        elif isinstance(current, Mapping):
            current = current.get(part)
        else:
            return None
    return current


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("~", "!~"):
        found = left is not None and re.search(str(right), _text(left)) is not None
        return found if op == "~" else not found
    left_n, right_n = _number(left), _number(right)
    if left_n is not None and right_n is not None:
        left, right = left_n, right_n
    elif right is not None and left is not None and not isinstance(right, bool):
        left, right = _text(left), str(right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0

    def fail(self, message: str) -> BadExpression:
        where = self.tokens[self.at].at + 1 if self.at < len(self.tokens) else len(self.text) + 1
        return BadExpression(f"--where {self.text!r}, column {where}: {message}")

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.at += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.tokens:
            raise self.fail("empty expression; write e.g. after.name == \"Acme\"")
        result = self.disjunction()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek().text!r}; join conditions with and / or")  # type: ignore[union-attr]
        return result

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.word("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda record: any(p(record) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.word("and"):
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda record: all(p(record) for p in parts))

    def negation(self) -> Predicate:
        if self.word("not"):
            inner = self.negation()
            return lambda record: not inner(record)
        return self.atom()

    def atom(self) -> Predicate:
        token = self.peek()
        if token is None:
            raise self.fail("expected a field path, ( or not")
        if token.text == "(":
            self.at += 1
            inner = self.disjunction()
            closing = self.peek()
            if closing is None or closing.text != ")":
                raise self.fail("expected )")
            self.at += 1
            return inner
        if token.kind != "word":
            raise self.fail(f"expected a field path, got {token.text!r}")
        self.at += 1
        path = token.text
        op = self.peek()
        if op is None or op.text not in _COMPARISONS:
            return lambda record: _truthy(resolve(record, path))
        self.at += 1
        literal = self.literal()
        if op.text in ("~", "!~"):
            try:
                re.compile(str(literal))
            except re.error as exc:
                raise self.fail(f"bad regular expression {literal!r}: {exc}") from None
        return lambda record: _compare(op.text, resolve(record, path), literal)

    def literal(self) -> Any:
        token = self.peek()
        if token is None or token.kind not in ("string", "number", "word"):
            raise self.fail("expected a value: \"text\", a number, true, false or null")
        self.at += 1
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            return Decimal(token.text)
        return _KEYWORDS.get(token.text.lower(), token.text)


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, [], {}) and value != "false"


def compile_where(text: str) -> Predicate:
    """A predicate over a decoded record (a dict); raises :class:`BadExpression` naming the column."""
    return _Parser(text).parse()


__all__ = ["Predicate", "compile_where", "resolve", "tokenize"]
