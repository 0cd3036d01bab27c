"""Test harness: the stack is started once per test session (or an already running one is reused).

``ISTHMUS_STACK`` chooses where the services come from:
- ``local`` (default): the process stack of ``isthmus up``; started here if it is not running, and
  stopped at the end only if this session started it (``ISTHMUS_KEEP_STACK=1`` keeps it).
- ``external``: services already running at the configured ports; nothing is started or stopped.
- ``containers``: the same topology on testcontainers, where a Docker engine exists.

The session's stack is the tests' own (``<project>/.isthmus-test``, ports 22xxx: ``streams/stack/profiles.py``),
apart from the one ``make demo`` and ``isthmus up`` use, unless ``ISTHMUS_HOME`` names another.

Tests marked ``unit`` never touch the ``stack`` fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg.rows import dict_row
from pymysql.cursors import DictCursor

from streams.stack.profiles import use_stack_for_tests
from streams.stack.running import RunningStack

# Before any test module reads a setting, and inherited by every process a test starts.
use_stack_for_tests()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
        elif not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def declared_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command a flow under LocalRun emits is of a kind its FlowSpec declares (tests/support/declared.py)."""
    from support.declared import check_declared_sends

    check_declared_sends(monkeypatch)


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    from streams.stack.harness import stack_for_tests

    mode = os.environ.get("ISTHMUS_STACK", "local")
    with stack_for_tests(mode) as running:
        yield running


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<venv>/bin``: the wheel built from this checkout, installed with the pinned dependencies in a fresh
    virtual environment, once a session (~30 s) for every test that runs the installed ``isthmus``; read-only."""
    from support.wheel import install_wheel

    return install_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def reference_capture(stack: RunningStack) -> dict[str, Any]:
    """crm-source and erp-source deployed from connect-configs/ through the CLI (`isthmus connectors deploy
    --json`), and RUNNING: what a test reading the reference pair's CDC needs, whichever tests ran before it."""
    import contextlib
    import io
    import json

    from streams.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["connectors", "deploy", "--json"])
    document = json.loads(out.getvalue().strip() or "null")
    assert code == 0, document
    return {d["name"]: d for d in document["deployed"]}


@pytest.fixture(scope="session")
def tryton_stack(stack: RunningStack) -> Iterator[RunningStack]:
    """The stack with its optional Tryton service running (a real ERP the project did not write), started here
    through the project's own code when it is not (``isthmus up tryton``: its virtual environment and database
    are built once and reused), in every stack mode, and stopped at the end only if this session started it
    (``ISTHMUS_KEEP_STACK=1`` keeps it)."""
    from streams.stack.manager import StackManager

    manager = StackManager(stack.settings)
    started = manager.up(["tryton"])
    try:
        yield stack
    finally:
        if started and os.environ.get("ISTHMUS_KEEP_STACK") != "1":
            manager.down(["tryton"])


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
