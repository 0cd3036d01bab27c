"""A MariaDB ``YEAR`` of ``0000`` (allowed by MariaDB, and what a zero-date-tolerant ``sql_mode`` leaves in old
rows) no longer fails a snapshot. MariaDB Connector/J reads ``YEAR`` as a date by default, and
``Date.valueOf("0-01-01")`` throws: the connector's snapshot task FAILED, and an incremental snapshot of such a
table sent nothing, with a warning only in Connect's log. The shipped MariaDB connector reads it as a number
(``driver.yearIsDateType: false``): the snapshot carries it, as Debezium's time adjuster makes it."""

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

DATABASE = "isthmus_years"


@pytest.fixture
def years_table(stack: RunningStack) -> Iterator[str]:
    conn = stack.connect_erp()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            cursor.execute(f"DROP TABLE IF EXISTS {DATABASE}.founded")
            cursor.execute(f"CREATE TABLE {DATABASE}.founded (id INT PRIMARY KEY, year_founded YEAR NULL)")
            cursor.execute(f"INSERT INTO {DATABASE}.founded VALUES (1, 0), (2, 1999), (3, NULL)")
        conn.commit()
        yield f"{DATABASE}.founded"
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.commit()
    finally:
        conn.close()


def test_a_zero_year_is_snapshotted_with_the_shipped_mariadb_settings(stack: RunningStack, years_table: str) -> None:
    shipped = configs.load(env="local").render("erp-source", stack_variables(stack.settings, stack.secrets))
    assert shipped.config.get("driver.yearIsDateType") == "false"
    prefix = f"years{secrets.token_hex(3)}"
    name = f"{prefix}-source"
    config = {**shipped.config, "name": name, "topic.prefix": prefix, "database.include.list": DATABASE,
              "table.include.list": years_table, "database.server.id": str(185000 + secrets.randbelow(9000)),
              "schema.history.internal.kafka.topic": f"_isthmus.{prefix}.schema-history"}
    config.pop("signal.data.collection", None)
    topic = f"{prefix}.{years_table}"
    with ConnectClient(stack.settings.connect_url) as connect:
        connect.put_config(name, config)
        try:
            events = read_events(stack.settings.bootstrap_servers, topic, end_positions(
                stack.settings.bootstrap_servers, topic), lambda seen: len(seen) >= 3, timeout=120)
            status = eventually("the connector's state", lambda: connect.status(name), every=1)
            assert status.running, f"{name}: {status.failures}"
            years = {e.key["id"]: e.value["after"]["year_founded"] for e in events if e.op == "r"}
            assert years[2] == 1999 and years[3] is None
            assert years[1] in (0, 2000), years  # Debezium's time adjuster makes 0..69 2000..2069
        finally:
            connect.delete(name)
