"""A table created while the shipped MariaDB connector runs, and added to its ``table.include.list`` afterwards, is
captured: its rows stream and the task stays RUNNING.

A trial did this to the reference ERP as the README says (create the table, list it, deploy) and the task FAILED at
the table's first row, ``Encountered change event for table erp.loyalty whose schema isn't known to this
connector``: the connector kept only the captured tables' DDL in its schema history
(``schema.history.internal.store.only.captured.tables.ddl: true``), so the table's CREATE was never recorded. The
shipped connector now keeps every table's DDL (connect-configs/README.md, "Adding a table to a MariaDB capture")."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from support.events import end_positions, read_events
from support.waiting import eventually

from streams.capture import configs
from streams.capture.client import ConnectClient
from streams.stack.offer import stack_variables
from streams.stack.running import RunningStack

pytestmark = pytest.mark.integration

DATABASE = "isthmus_added_table"


def _execute(stack: RunningStack, *statements: str) -> None:
    conn = stack.connect_erp()
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def database(stack: RunningStack) -> Iterator[str]:
    _execute(stack, f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}",
             f"CREATE TABLE {DATABASE}.accounts (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)",
             f"INSERT INTO {DATABASE}.accounts VALUES (1, 'first')")
    yield DATABASE
    _execute(stack, f"DROP DATABASE IF EXISTS {DATABASE}")


def test_a_table_created_then_added_to_the_capture_streams_and_the_task_keeps_running(
        stack: RunningStack, database: str) -> None:
    shipped = configs.load(env="local").render("erp-source", stack_variables(stack.settings, stack.secrets))
    assert shipped.config.get("schema.history.internal.store.only.captured.tables.ddl") == "false"
    prefix = f"added{secrets.token_hex(3)}"
    name = f"{prefix}-source"
    config = {**shipped.config, "name": name, "topic.prefix": prefix, "database.include.list": database,
              "table.include.list": f"{database}.accounts", "database.server.id": str(186000 + secrets.randbelow(9000)),
              "schema.history.internal.kafka.topic": f"_isthmus.{prefix}.schema-history"}
    config.pop("signal.data.collection", None)
    bootstrap = stack.settings.bootstrap_servers
    accounts, loyalty = f"{prefix}.{database}.accounts", f"{prefix}.{database}.loyalty"
    with ConnectClient(stack.settings.connect_url) as connect:
        connect.put_config(name, config)
        try:
            read_events(bootstrap, accounts, end_positions(bootstrap, accounts), lambda seen: len(seen) >= 1,
                        timeout=120)
            # Created while the connector streams, not yet captured: its CREATE passes through the binlog now.
            _execute(stack, f"CREATE TABLE {database}.loyalty (id INT PRIMARY KEY, points INT NOT NULL)",
                     f"INSERT INTO {database}.loyalty VALUES (1, 10)",
                     f"INSERT INTO {database}.accounts VALUES (2, 'second')")
            read_events(bootstrap, accounts, {}, lambda seen: any(e.op == "c" for e in seen), timeout=60)
            # Stopped while its config changes, so no task of the old config reads the rows below.
            connect.stop(name)
            eventually("the connector stopped", lambda: connect.status(name).state == "STOPPED", every=1)
            connect.put_config(name, {**config, "table.include.list": f"{database}.accounts,{database}.loyalty"})
            connect.resume(name)
            eventually("the connector's task running with the table listed",
                       lambda: (state := connect.status(name)).running and bool(state.tasks), every=1)
            _execute(stack, f"INSERT INTO {database}.loyalty VALUES (2, 20)",
                     f"INSERT INTO {database}.accounts VALUES (3, 'third')")
            streamed = read_events(bootstrap, accounts, {},
                                   lambda seen: any(e.op == "c" and e.key["id"] == 3 for e in seen), timeout=120)
            assert any(e.key["id"] == 3 for e in streamed)
            status = connect.status(name)
            assert status.running, f"{name}: {status.failures}"
            added = read_events(bootstrap, loyalty, {}, lambda seen: any(e.op == "c" for e in seen), timeout=60)
            assert [e.value["after"] for e in added if e.op == "c"] == [{"id": 2, "points": 20}]
        finally:
            connect.delete(name)
