"""The parts work together: a row written in either database arrives in Kafka as a Debezium change event.

Each test deploys a throwaway connector on its own scratch table (secrets through Connect's file config
provider, as every connector must), so it proves the stack and not our connector configs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import httpx
import pytest
from support.topics import Record, TopicReader
from support.waiting import eventually

from streams.stack.running import RunningStack


def _deploy(stack: RunningStack, name: str, config: dict[str, str]) -> None:
    url = f"{stack.settings.connect_url}/connectors/{name}"
    answer = httpx.put(f"{url}/config", json=config, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    state: dict[str, Any] = {}

    def running() -> bool:
        nonlocal state
        state = httpx.get(f"{url}/status", timeout=10).json()
        tasks = state.get("tasks", [])
        if any(t["state"] == "FAILED" for t in tasks):
            pytest.fail(f"connector {name} failed: {tasks[0].get('trace', '')[:2000]}")
        return state.get("connector", {}).get("state") == "RUNNING" and bool(tasks) \
            and all(t["state"] == "RUNNING" for t in tasks)

    eventually(f"connector {name} RUNNING", running, timeout=90, context=lambda: f"status: {state}")


def _delete(stack: RunningStack, name: str) -> None:
    httpx.delete(f"{stack.settings.connect_url}/connectors/{name}", timeout=30)


def _captured_insert(stack: RunningStack, topic: str, insert: Callable[[str], None], prefix: str,
                     timeout: float = 120) -> dict[str, Any]:
    """Insert a marked row, again every few seconds, until one arrives as a change event; returns that event.

    A task reported RUNNING may not have read its starting position yet (``snapshot.mode: no_data`` takes the
    binlog position / creates the slot first): a row written before that is, rightly, never captured. So the
    first captured row proves the capture, whichever it is.
    """
    def change(record: Record) -> dict[str, Any] | None:
        payload: dict[str, Any] | None = json.loads(record.value)["payload"] if record.value is not None else None
        return payload

    inserted: set[str] = set()
    with TopicReader(stack.settings.bootstrap_servers, [topic], change, start="beginning", committed=False,
                     create_topics=True) as reader:
        def captured(seen: list[dict[str, Any]]) -> dict[str, Any] | None:
            return next((p for p in seen if (p.get("after") or {}).get("note") in inserted), None)

        def insert_and_read() -> dict[str, Any] | None:
            marker = f"{prefix}-{len(inserted)}"
            insert(marker)
            inserted.add(marker)
            with suppress(AssertionError):  # not within 5 s: insert another row
                return reader.until(f"the row {marker}", captured, timeout=5)
            return None

        return eventually(f"one of the rows marked {prefix}-N on {topic}", insert_and_read, timeout=timeout,
                          every=0, context=lambda: f"{len(inserted)} rows inserted")


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def crm_scratch(stack: RunningStack, run_id: str) -> Iterator[str]:
    schema = f"smoke_{run_id}"
    with stack.connect_crm(autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.events (id serial PRIMARY KEY, note text NOT NULL)")
    yield schema
    _delete(stack, f"smoke-crm-{run_id}")
    with stack.connect_crm(autocommit=True) as conn:
        with suppress(AssertionError):  # still active after 30 s: dropped below all the same, failing loudly
            eventually("the connector's slot released", lambda: not conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active", (f"smoke_{run_id}",)).fetchone(),
                timeout=30)
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (f"smoke_{run_id}",))
        conn.execute(f"DROP PUBLICATION IF EXISTS smoke_{run_id}")
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def erp_scratch(stack: RunningStack, run_id: str) -> Iterator[str]:
    database = f"isthmus_smoke_{run_id}"
    with stack.connect_erp(database="", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
        cursor.execute(f"CREATE TABLE {database}.events "
                       "(id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100) NOT NULL)")
    yield database
    _delete(stack, f"smoke-erp-{run_id}")
    with stack.connect_erp(database="", autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {database}")


def test_crm_row_arrives_as_debezium_event(stack: RunningStack, crm_scratch: str, run_id: str) -> None:
    s = stack.settings
    _deploy(stack, f"smoke-crm-{run_id}", {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": s.host, "database.port": str(s.crm_db_port), "database.user": s.db_user,
        "database.password": stack.secrets.connect_reference("crm.db.password"),
        "database.dbname": s.crm_db_name, "topic.prefix": f"smoke_crm_{run_id}", "plugin.name": "pgoutput",
        "slot.name": f"smoke_{run_id}", "publication.name": f"smoke_{run_id}",
        "publication.autocreate.mode": "filtered", "table.include.list": f"{crm_scratch}.events",
        "snapshot.mode": "no_data",
    })
    def insert(marker: str) -> None:
        with stack.connect_crm(autocommit=True) as conn:
            conn.execute(f"INSERT INTO {crm_scratch}.events (note) VALUES (%s)", (marker,))

    event = _captured_insert(stack, f"smoke_crm_{run_id}.{crm_scratch}.events", insert, f"crm-{run_id}")
    assert event["op"] == "c"
    assert event["before"] is None
    assert event["source"]["connector"] == "postgresql"
    assert event["source"]["table"] == "events"
    assert event["source"]["lsn"] > 0


def test_erp_row_arrives_as_debezium_event(stack: RunningStack, erp_scratch: str, run_id: str) -> None:
    s = stack.settings
    _deploy(stack, f"smoke-erp-{run_id}", {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "database.hostname": s.host, "database.port": str(s.erp_db_port), "database.user": s.db_user,
        "database.password": stack.secrets.connect_reference("erp.db.password"),
        "database.server.id": str(5100 + int(run_id[:4], 16) % 800), "topic.prefix": f"smoke_erp_{run_id}",
        "database.include.list": erp_scratch,
        "schema.history.internal.kafka.bootstrap.servers": s.bootstrap_servers,
        "schema.history.internal.kafka.topic": f"_smoke_erp_{run_id}.history",
        "snapshot.mode": "no_data",
    })
    def insert(marker: str) -> None:
        with stack.connect_erp(database=erp_scratch, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("INSERT INTO events (note) VALUES (%s)", (marker,))

    event = _captured_insert(stack, f"smoke_erp_{run_id}.{erp_scratch}.events", insert, f"erp-{run_id}")
    assert event["op"] == "c"
    assert event["source"]["connector"] == "mariadb"
    assert event["source"]["gtid"]
    assert event["source"]["file"].startswith("binlog.")
