"""Applying the warehouse SQL (``warehouse/schema.sql`` then ``views.sql``) idempotently, in one schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from streams.stack.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "warehouse"
FILES = ("schema.sql", "views.sql")
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
