"""Values the shipped MariaDB connector settings carry as they are, from a table of the test's own.

A ``YEAR`` of ``0000`` (allowed by MariaDB, and what a zero-date-tolerant ``sql_mode`` leaves in old rows) no
longer fails a snapshot: MariaDB Connector/J reads ``YEAR`` as a date by default, and ``Date.valueOf("0-01-01")``
throws (the snapshot task FAILED; an incremental snapshot sent nothing, with a warning only in Connect's log). The
shipped connector reads it as a number (``driver.yearIsDateType: false``). A NULL in a nullable column with a
``DEFAULT`` arrives as null, not as the default (``value.converter.replace.null.with.default: false``), in a
snapshot read and in a streamed insert."""

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
            cursor.execute(f"CREATE TABLE {DATABASE}.founded (id INT PRIMARY KEY, year_founded YEAR NULL, "
                           "region VARCHAR(8) NULL DEFAULT 'emea', seen DATETIME NULL DEFAULT CURRENT_TIMESTAMP)")
            cursor.execute(f"INSERT INTO {DATABASE}.founded VALUES (1, 0, NULL, NULL), (2, 1999, 'apac', NULL), "
                           "(3, NULL, NULL, NULL)")
        conn.commit()
        yield f"{DATABASE}.founded"
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        conn.commit()
    finally:
        conn.close()


def test_a_zero_year_and_nulls_with_defaults_arrive_as_they_are(stack: RunningStack, years_table: str) -> None:
    shipped = configs.load(env="local").render("erp-source", stack_variables(stack.settings, stack.secrets))
    assert shipped.config.get("driver.yearIsDateType") == "false"
    assert shipped.config.get("value.converter.replace.null.with.default") == "false"
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
            bootstrap = stack.settings.bootstrap_servers
            events = read_events(bootstrap, topic, end_positions(bootstrap, topic), lambda seen: len(seen) >= 3,
                                 timeout=120)
            status = eventually("the connector's state", lambda: connect.status(name), every=1)
            assert status.running, f"{name}: {status.failures}"
            read = {e.key["id"]: e.value["after"] for e in events if e.op == "r"}
            assert read[2]["year_founded"] == 1999 and read[3]["year_founded"] is None
            assert read[1]["year_founded"] in (0, 2000), read  # Debezium's time adjuster makes 0..69 2000..2069
            assert [(read[i]["region"], read[i]["seen"]) for i in (1, 2, 3)] == [
                (None, None), ("apac", None), (None, None)]
            conn = stack.connect_erp()
            try:
                with conn.cursor() as cursor:
                    cursor.execute(f"INSERT INTO {years_table} VALUES (4, NULL, NULL, NULL)")
                conn.commit()
            finally:
                conn.close()
            streamed = read_events(bootstrap, topic, {}, lambda seen: any(e.op == "c" for e in seen), timeout=60)
            (created,) = [e.value["after"] for e in streamed if e.op == "c"]
            assert (created["id"], created["region"], created["seen"]) == (4, None, None)
        finally:
            connect.delete(name)
