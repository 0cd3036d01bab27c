"""The product is generic over systems: no string literal in streams/ (docstrings aside) names a table of the
reference apps, a column of theirs that is not also a field of our canonical schemas, or the systems ``crm`` and
``erp``; the local stack's own code (streams/stack/) is the one place that knows the reference pair."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Column names of the reference apps that are also everyday words of Kafka, Avro, HTTP and JSON(-RPC): a
#: literal "type" or "id" in an Avro schema walker or an HTTP client, or "code" read from a JSON-RPC 2.0 error
#: object ({"code", "message", "data"}), names no reference column.
EVERYDAY = frozenset({"id", "type", "version", "path", "method", "data", "status_code", "code"})


def _reference_names() -> tuple[set[str], set[str]]:
    tables: set[str] = set()
    columns: set[str] = set()
    for schema in ROOT.glob("reference/*/schema.sql"):
        for match in re.finditer(r"CREATE TABLE (?:IF NOT EXISTS )?([\w.]+)\s*\((.*?)\n\)[^;]*;", schema.read_text(),
                                 re.S):
            tables.add(match.group(1).split(".")[-1])
            for line in match.group(2).splitlines():
                words = line.strip().split()
                if words and re.fullmatch(r"[a-z_]+", words[0]) and words[0].upper() not in (
                        "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT", "KEY", "INDEX"):
                    columns.add(words[0])
    return tables, columns


def _canonical_fields() -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "record":
                for item in node.get("fields", ()):
                    found.add(item["name"])
                    walk(item["type"])
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in ROOT.glob("schemas/*.avsc"):
        walk(json.loads(path.read_text()))
    return found


def _literals(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_literal_in_streams_names_a_reference_table_column_or_system() -> None:
    tables, columns = _reference_names()
    assert "customers" in tables and "crm_customer_number" in columns  # the reference schemas were read
    forbidden = tables | (columns - _canonical_fields() - EVERYDAY) | {"crm", "erp"}
    found = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
             for path in sorted((ROOT / "streams").rglob("*.py")) if "stack" not in path.relative_to(ROOT).parts
             for line, text in _literals(path) if text in forbidden]
    assert not found, "reference names in product code (take them from systems/, mappings/ or flows/):\n" + \
        "\n".join(found)
