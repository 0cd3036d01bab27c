"""Fixtures of the sink tests: a run id for unique keys, and database connections for checking outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg.rows import dict_row
from pymysql.cursors import DictCursor

from streams.stack.running import RunningStack


@pytest.fixture
def run() -> int:
    from sink_support import run_id

    return run_id()


@pytest.fixture
def crm_db(stack: RunningStack) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """The CRM database (schema crm), autocommit: every query sees the latest committed state."""
    with stack.connect_crm(options="-c search_path=crm", row_factory=dict_row, autocommit=True) as conn:
        yield conn


@pytest.fixture
def erp_db(stack: RunningStack) -> Iterator[pymysql.connections.Connection[Any]]:
    conn = stack.connect_erp(cursorclass=DictCursor, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()
