"""Connections the flows' integration tests write their changes through: the CRM (PostgreSQL, schema crm) and the
ERP (MariaDB), rows as dicts, autocommit."""

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
def crm(stack: RunningStack) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with stack.connect_crm(options="-c search_path=crm", row_factory=dict_row, autocommit=True) as conn:
        yield conn


@pytest.fixture
def erp(stack: RunningStack) -> Iterator[pymysql.connections.Connection[Any]]:
    conn = stack.connect_erp(cursorclass=DictCursor, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()
