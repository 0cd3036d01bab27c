"""The columns of the captured tables, read from the reference ``CREATE TABLE`` statements.

A mapping is checked against them at load: every column it reads must exist, and its SQL type decides
what the value will be (a zone-less DATETIME needs a zone before it can fill a UTC timestamp).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from streams.stack.settings import PROJECT_ROOT

REFERENCE_SCHEMAS: Mapping[str, Path] = MappingProxyType({
    "crm": PROJECT_ROOT / "reference" / "crm" / "schema.sql",
    "erp": PROJECT_ROOT / "reference" / "erp" / "schema.sql",
})

_CREATE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w.\"`]+)\s*\(", re.IGNORECASE)
_CONSTRAINT = re.compile(r"^(PRIMARY\s+KEY|UNIQUE|FOREIGN\s+KEY|CHECK|CONSTRAINT|INDEX|KEY|EXCLUDE)\b",
                         re.IGNORECASE)
_TYPE = re.compile(r"^(?P<base>[A-Za-z]+(?:\s+(?:PRECISION|VARYING|WITH(?:OUT)?\s+TIME\s+ZONE))?)"
                   r"\s*(?:\((?P<args>[^)]*)\))?", re.IGNORECASE)

_CHECK_IN = re.compile(r"CHECK\s*\(\s*\w+\s+IN\s*\((?P<values>[^)]*)\)\s*\)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Column:
    """One column: SQL type name (upper case), its arguments, whether it may hold NULL, and the values an
    ENUM type or a ``CHECK (col IN (...))`` allows."""

    name: str
    sql_type: str
    args: tuple[str, ...] = ()
    nullable: bool = True
    line: int = 0
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Table:
    name: str
    columns: Mapping[str, Column]
    source: str = ""


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", lambda m: " " * len(m.group(0)), sql)


def _split_top_level(body: str) -> list[tuple[str, int]]:
    """Split a column list at commas outside parentheses and quotes, keeping each part's offset."""
    parts: list[tuple[str, int]] = []
    depth, start, quote = 0, 0, ""
    for index, char in enumerate(body):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append((body[start:index], start))
            start = index + 1
    parts.append((body[start:], start))
    return parts


def _column(definition: str, line: int) -> Column | None:
    text = " ".join(definition.split())
    if not text or _CONSTRAINT.match(text):
        return None
    name, _, rest = text.partition(" ")
    match = _TYPE.match(rest)
    if match is None:
        return None
    base = " ".join(match["base"].upper().split())
    args = tuple(a.strip().strip("'") for a in _split_args(match["args"] or ""))
    upper = rest.upper()
    nullable = not ("NOT NULL" in upper or "PRIMARY KEY" in upper or base in ("SERIAL", "BIGSERIAL"))
    allowed = args if base == "ENUM" else None
    check = _CHECK_IN.search(rest)
    if check:
        allowed = tuple(v.strip().strip("'") for v in _split_args(check["values"]))
    return Column(name=name.strip('"`'), sql_type=base, args=args, nullable=nullable, line=line,
                  allowed=allowed)


def _split_args(args: str) -> list[str]:
    return [part for part, _ in _split_top_level(args)] if args.strip() else []


def parse_tables(sql: str, source: str = "") -> dict[str, Table]:
    """Every ``CREATE TABLE`` in the text, by unqualified table name."""
    sql = _strip_comments(sql)
    tables: dict[str, Table] = {}
    for match in _CREATE.finditer(sql):
        start = match.end()
        depth, end = 1, start
        while depth and end < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        columns: dict[str, Column] = {}
        for part, offset in _split_top_level(sql[start:end - 1]):
            leading = len(part) - len(part.lstrip())
            line = sql.count("\n", 0, start + offset + leading) + 1
            column = _column(part, line)
            if column is not None:
                columns[column.name] = column
        name = match["name"].strip('"`').rpartition(".")[2]
        tables[name] = Table(name=name, columns=MappingProxyType(columns), source=source)
    return tables


def reference_tables(system: str) -> dict[str, Table]:
    path = REFERENCE_SCHEMAS[system]
    return parse_tables(path.read_text(encoding="utf-8"), str(path))
