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


@pytest.fixture(autouse=True)
def _delete_test_topics(request: pytest.FixtureRequest) -> Iterator[None]:
    """Topics a test made for itself (sink_support.fresh_topics) are deleted after it."""
    yield
    from sink_support import CREATED_TOPICS, delete_topics

    if CREATED_TOPICS and "stack" in request.fixturenames:
        names = list(CREATED_TOPICS)
        CREATED_TOPICS.clear()
        delete_topics(request.getfixturevalue("stack"), names)


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
