"""Applying the warehouse SQL (``warehouse/schema.sql`` then ``views.sql``) idempotently, in one schema; and
which tables and columns ``schema.sql`` creates, for checking ``warehouse/tables.yaml`` without a database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from streams.config.paths import DATA_ROOT

SQL_DIR = DATA_ROOT / "warehouse"
SCHEMA_FILE = "schema.sql"
FILES = (SCHEMA_FILE, "views.sql")
#: Serialises concurrent loaders' DDL (CREATE ... IF NOT EXISTS is not safe against a parallel CREATE).
_LOCK_KEY = 0x15745_3307


def apply(conn: psycopg.Connection[Any], schema: str, directory: Path = SQL_DIR) -> None:
    """Create the schema, its tables and views when missing; replace the views. One transaction."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        for name in FILES:
            conn.execute((directory / name).read_text())


_CREATE = re.compile(r"^CREATE TABLE(?: IF NOT EXISTS)? (\w+) \((.*?)^\);", re.MULTILINE | re.DOTALL | re.IGNORECASE)
_CONSTRAINT = re.compile(r"^(PRIMARY|UNIQUE|CONSTRAINT|FOREIGN|CHECK|EXCLUDE)\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class DeclaredTable:
    """A table as ``CREATE TABLE`` declares it: the columns a row can set and the generated ones."""

    name: str
    columns: frozenset[str]
    generated: frozenset[str]


def declared_tables(directory: Path = SQL_DIR) -> dict[str, DeclaredTable]:
    """The tables of ``schema.sql``, read from its ``CREATE TABLE`` statements (one column per line, as the
    file is written); columns added later by ``ALTER TABLE`` are not listed."""
    found: dict[str, DeclaredTable] = {}
    for match in _CREATE.finditer((directory / SCHEMA_FILE).read_text()):
        columns: set[str] = set()
        generated: set[str] = set()
        for line in match.group(2).splitlines():
            line = line.split("--", 1)[0].strip()
            if not line or _CONSTRAINT.match(line):
                continue
            name = line.split()[0].strip('"')
            (generated if "GENERATED ALWAYS" in line.upper() else columns).add(name)
        found[match.group(1)] = DeclaredTable(name=match.group(1), columns=frozenset(columns),
                                              generated=frozenset(generated))
    return found
