"""The SQL upsert adapter against a scratch table in the CRM's PostgreSQL: upserts, deletes, and the
idempotency key recorded in the same transaction, so a repeated command is answered, not applied again."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sink_support import InProcessSink, command, fresh_topics, produce, read_all, results_for
from support.waiting import eventually

from streams.sinks.exceptions import TargetConfigError
from streams.sinks.records import result_gone
from streams.stack.running import RunningStack


@pytest.fixture
def scratch(crm_db: psycopg.Connection[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:10]
    table, keys = f"public.sink_scratch_{tag}", f"public.sink_scratch_keys_{tag}"
    crm_db.execute(f"CREATE TABLE {table} (sku TEXT PRIMARY KEY, available_qty NUMERIC(14, 3) NOT NULL, "
                   "as_of TIMESTAMPTZ)")
    try:
        yield table, keys
    finally:
        crm_db.execute(f"DROP TABLE IF EXISTS {table}")
        crm_db.execute(f"DROP TABLE IF EXISTS {keys}")


def target_file(folder: Path, table: str, keys: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crm.yaml").write_text(textwrap.dedent(f"""\
        system: crm
        adapter: sql
        sql:
          keys_table: {keys}
        routes:
          - payload_type: ProductAvailability
            operation: upsert
            table: {table}
            key: [sku]
            columns: {{sku: sku, available_qty: available_qty, as_of: as_of}}
            ids: [sku]
          - payload_type: ProductAvailability
            operation: deactivate
            action: delete
            table: {table}
            key: [sku]
            columns: {{sku: sku}}
        """), encoding="utf-8")


def availability(sku: str, qty: str, operation: str = "upsert", key: str | None = None) -> dict[str, Any]:
    return command(target="crm", operation=operation, payload_type="ProductAvailability", entity_key=sku, key=key,
                   payload={"sku": sku, "available_qty": qty, "as_of": "2026-05-01T08:00:00+00:00"})


def test_sql_upserts_apply_each_key_once(stack: RunningStack, run: int, tmp_path: Path,
                                         crm_db: psycopg.Connection[dict[str, Any]],
                                         scratch: tuple[str, str]) -> None:
    table, keys = scratch
    target_file(tmp_path, table, keys)
    topics, env = fresh_topics(stack, "sql")
    a, b = f"SQA-{run}", f"SQB-{run}"
    first = availability(a, "5.000", key=f"avail-{run}-1")
    commands = [first, availability(b, "1.000"), availability(a, "7.000"),
                {**availability(a, "5.000", key=first["idempotency_key"])},
                availability(b, "1.000", operation="deactivate"),
                command(target="crm", operation="upsert", payload_type="ProductAvailability", entity_key=a,
                        payload={"available_qty": "1.000"}),
                availability(b, "1.000", operation="deactivate")]  # b is deleted already: gone, nothing written
    produce(stack, topics.commands, commands)
    ids = {c["command_id"] for c in commands}
    with InProcessSink("crm", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path)}) as sink:
        assert "PostgreSQL" in sink.worker.adapter.describe()
        eventually("6 results and 1 dead letter", lambda: len(results_for(stack, topics.results, ids)) == 6
                 and len(read_all(stack, topics.dlq, "DeadLetter")) == 1, timeout=60)
    results = {r["command_id"]: r for r in results_for(stack, topics.results, ids)}
    statuses = [(results[c["command_id"]]["status"], results[c["command_id"]]["replayed"]) for c in commands[:5]]
    assert statuses == [(201, False), (201, False), (200, False), (201, True), (200, False)]
    assert results[commands[3]["command_id"]]["assigned_ids"] == {"sku": a}
    gone = results[commands[6]["command_id"]]
    assert gone["status"] == 404 and result_gone(gone) == f"{table} has no row sku='{b}' to delete"

    rows = crm_db.execute(f"SELECT sku, available_qty FROM {table} ORDER BY sku").fetchall()
    assert [(r["sku"], str(r["available_qty"])) for r in rows] == [(a, "7.000")], \
        "the repeated first command did not set 5 again, and b was deleted"
    recorded = crm_db.execute(f"SELECT idem_key, status FROM {keys}").fetchall()
    assert sorted(r["idem_key"] for r in recorded) == sorted({c["idempotency_key"] for c in commands[:5]})
    [letter] = read_all(stack, topics.dlq, "DeadLetter")
    assert letter.value is not None and letter.value["error_type"] == "MissingKey"
    assert "no value for key column sku" in letter.value["reason"] and letter.value["stage"] == "sink.crm"


def test_a_route_whose_table_is_missing_is_refused_at_start(stack: RunningStack, tmp_path: Path) -> None:
    keys = f"public.sink_scratch_keys_{uuid.uuid4().hex[:10]}"
    target_file(tmp_path, "public.no_such_table_for_sinks", keys)
    _, env = fresh_topics(stack, "sqlbad")
    try:
        with pytest.raises(TargetConfigError, match=r"table public\.no_such_table_for_sinks does not exist; "
                                                    r"create it first"), \
                InProcessSink("crm", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path)}):
            pass
    finally:
        with stack.connect_crm(autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {keys}")


def test_a_target_table_altered_under_the_sink_loses_no_write(stack: RunningStack, run: int, tmp_path: Path,
                                                              crm_db: psycopg.Connection[dict[str, Any]],
                                                              scratch: tuple[str, str]) -> None:
    """psycopg prepares a statement a connection runs often; an ALTER TABLE of the target's table since makes
    PostgreSQL refuse it ("cached plan must not change result type"). That is no fault of the data: the write
    goes through on a new connection, it is not dead-lettered."""
    table, keys = scratch
    target_file(tmp_path, table, keys)
    topics, env = fresh_topics(stack, "sqlalter")
    before = [availability(f"SQP-{run}-{n}", f"{n}.000") for n in range(12)]
    after = [availability(f"SQP-{run}-{n}", f"{n + 100}.000") for n in range(12)]
    with InProcessSink("crm", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path), "ISTHMUS_SINK_CONCURRENCY": "1"}):
        produce(stack, topics.commands, before)
        eventually("the first writes", lambda: len(results_for(stack, topics.results,
                                                               {c["command_id"] for c in before})) == 12, timeout=60)
        crm_db.execute(f"ALTER TABLE {table} ADD COLUMN note TEXT")
        produce(stack, topics.commands, after)
        eventually("the writes after the ALTER", lambda: len(results_for(stack, topics.results,
                                                                         {c["command_id"] for c in after})) == 12,
                   timeout=90)
    assert read_all(stack, topics.dlq, "DeadLetter") == []
    rows = crm_db.execute(f"SELECT sku, available_qty FROM {table} ORDER BY sku").fetchall()
    assert {r["sku"]: str(r["available_qty"]) for r in rows} == {f"SQP-{run}-{n}": f"{n + 100}.000" for n in range(12)}


def test_an_only_changed_update_leaves_a_column_edited_meanwhile_as_it_is(
        stack: RunningStack, run: int, tmp_path: Path, crm_db: psycopg.Connection[dict[str, Any]],
        scratch: tuple[str, str]) -> None:
    """Two-way sync into a database: the update was decided on the row as it was, and a person edited another
    column of it meanwhile. With ``only_changed`` the update writes the columns of its ``changed_fields`` and the
    key, so the person's edit stays; without, every mapped column is written back as the command had it."""
    table, keys = scratch
    target_file(tmp_path, table, keys)
    path = tmp_path / "crm.yaml"
    path.write_text(path.read_text(encoding="utf-8") + textwrap.indent(textwrap.dedent(f"""\
          - payload_type: ProductAvailability
            operation: update
            action: update
            only_changed: true
            table: {table}
            key: [sku]
            columns: {{sku: sku, available_qty: available_qty, as_of: as_of}}
        """), "  "), encoding="utf-8")
    sku = f"SQO-{run}"
    crm_db.execute(f"INSERT INTO {table} (sku, available_qty, as_of) VALUES (%s, 5, '2026-05-01T08:00:00Z')", (sku,))
    crm_db.execute(f"UPDATE {table} SET as_of = '2026-06-01T09:30:00Z' WHERE sku = %s", (sku,))  # the edit
    update = command(target="crm", operation="update", payload_type="ProductAvailability", entity_key=sku,
                     payload={"sku": sku, "available_qty": "7.000", "as_of": "2026-05-01T08:00:00+00:00"},
                     changed=["available_qty"])
    topics, env = fresh_topics(stack, "sqlonly")
    produce(stack, topics.commands, [update])
    with InProcessSink("crm", {**env, "ISTHMUS_SINK_TARGETS_DIR": str(tmp_path)}):
        eventually("the update's result", lambda: results_for(stack, topics.results, {update["command_id"]}),
                   timeout=60)
    row = crm_db.execute(f"SELECT available_qty, as_of FROM {table} WHERE sku = %s", (sku,)).fetchone()
    assert row is not None and str(row["available_qty"]) == "7.000"
    assert row["as_of"].isoformat() == "2026-06-01T09:30:00+00:00", "the edit made meanwhile was overwritten"
