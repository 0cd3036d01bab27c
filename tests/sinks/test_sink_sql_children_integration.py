"""A document's lines written by a real ``isthmus sink`` into a child table of the REAL databases of the test stack
(PostgreSQL, MariaDB), in the transaction of its header row: an order created with its lines, edited (a line
added, one removed, one quantity changed), cancelled (its lines left), re-sent after the sink is killed (applied
once), and an order with a quantity wider than its column dead-lettered with nothing written."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import dict_row
from sink_support import SinkProcess, command, fresh_topics, produce, read_all, results_for, scratch_mariadb
from support.waiting import eventually

from streams.stack.running import RunningStack

#: Rows of a query against the scratch tables.
Query = Callable[[str], list[dict[str, Any]]]

ROUTES = """\
routes:
  - payload_type: SalesOrder
    operation: create
    table: {auftrag}
    key: [shop_bestellung]
    columns: {{shop_bestellung: order_number, waehrung: currency}}
    ids: {{fulfil_auftrag_id: auftrag_id}}
    children: &lines
      - table: {position}
        from: lines
        parent_key: {{auftrag_id: auftrag_id}}
        key: [auftrag_id, pos_nr]
        columns: {{pos_nr: line_no, sku: sku, menge: quantity, einzelpreis: unit_price}}
  - payload_type: SalesOrder
    operation: update
    action: update
    table: {auftrag}
    key: [shop_bestellung]
    columns: {{shop_bestellung: order_number, waehrung: currency}}
    ids: {{fulfil_auftrag_id: auftrag_id}}
    children: *lines
  - payload_type: SalesOrder
    operation: cancel
    action: update
    table: {auftrag}
    key: [shop_bestellung]
    columns: {{shop_bestellung: order_number, status: {{value: storniert}}}}
"""


def line(no: int, qty: str) -> dict[str, Any]:
    return {"line_no": no, "sku": f"SKU-{no}", "quantity": qty, "unit_price": "9.9900", "warehouse_code": None}


def order(target: str, number: str, operation: str, lines: list[dict[str, Any]],
          key: str | None = None) -> dict[str, Any]:
    return command(target=target, operation=operation, payload_type="SalesOrder", entity_key=number, key=key,
                   payload={"order_number": number, "currency": "EUR", "status": "open", "lines": lines})


def lines_are_written_once(stack: RunningStack, run: int, folder: Path, target: str, auftrag: str, position: str,
                           query: Query) -> None:
    topics, env = fresh_topics(stack, f"lines{target}")
    env = {**env, "ISTHMUS_SINK_TARGETS_DIR": str(folder)}
    a, wide = f"B-{run}-A", f"B-{run}-W"
    create = order(target, a, "create", [line(1, "1.00"), line(2, "2.00"), line(3, "3.00")])
    edit = order(target, a, "update", [line(1, "1.50"), line(3, "3.00"), line(4, "4.00")])
    cancel = order(target, a, "cancel", [line(1, "1.50"), line(3, "3.00"), line(4, "4.00")])
    too_wide = order(target, wide, "create", [line(1, "1.00"), line(2, "1.255")])
    commands = [create, edit, cancel, too_wide]
    produce(stack, topics.commands, commands)
    ids = {c["command_id"] for c in commands}
    sink = SinkProcess(stack, target, env, name=f"lines-{target}")
    try:
        eventually("3 results and 1 dead letter", lambda: len(results_for(stack, topics.results, ids)) == 3
                   and len(read_all(stack, topics.dlq, "DeadLetter")) == 1, timeout=90)
    finally:
        sink.kill()  # SIGKILL: its last offsets may be uncommitted, as after a crash
    results = {r["command_id"]: r for r in results_for(stack, topics.results, ids)}
    assert [(results[c["command_id"]]["status"], results[c["command_id"]]["replayed"]) for c in commands[:3]] == \
        [(201, False), (200, False), (200, False)], sink.log()[-3000:]
    auftrag_id = results[create["command_id"]]["assigned_ids"]["fulfil_auftrag_id"]
    assert int(auftrag_id) > 0, "the generated id of the header came back"

    def written() -> list[tuple[int, str, str]]:
        return [(r["pos_nr"], r["sku"], str(r["menge"])) for r in query(
            f"SELECT p.pos_nr, p.sku, p.menge FROM {position} p JOIN {auftrag} a ON a.auftrag_id = p.auftrag_id "
            f"WHERE a.shop_bestellung = '{a}' ORDER BY p.pos_nr")]

    edited = [(1, "SKU-1", "1.50"), (3, "SKU-3", "3.00"), (4, "SKU-4", "4.00")]
    assert written() == edited, "line 2 removed, line 1's quantity changed, line 4 added; the cancel left them"
    assert [r["status"] for r in query(f"SELECT status FROM {auftrag} WHERE shop_bestellung = '{a}'")] == \
        ["storniert"]
    assert query(f"SELECT shop_bestellung FROM {auftrag} WHERE shop_bestellung = '{wide}'") == [], \
        "the order with a line too wide was not written, its header neither"
    [letter] = read_all(stack, topics.dlq, "DeadLetter")
    assert letter.value is not None and letter.value["error_type"] == "DecimalTooWide"
    assert f"{position}.menge holds 2 decimal places and the payload's value for it in lines[1] is 1.255" in \
        letter.value["reason"]

    # the sink killed, the flow sends the create and the edit again (their idempotency keys): nothing is applied
    again = [order(target, a, "create", [line(9, "9.00")], key=create["idempotency_key"]),
             order(target, a, "update", [line(8, "8.00")], key=edit["idempotency_key"])]
    produce(stack, topics.commands, again)
    again_ids = {c["command_id"] for c in again}
    sink = SinkProcess(stack, target, env, name=f"lines-{target}-again")
    try:
        eventually("the re-sent commands answered", lambda: len(results_for(stack, topics.results, again_ids)) == 2,
                   timeout=90)
    finally:
        sink.stop()
    replayed = results_for(stack, topics.results, again_ids)
    assert all(r["replayed"] for r in replayed), replayed
    assert {r["assigned_ids"]["fulfil_auftrag_id"] for r in replayed} == {auftrag_id}
    assert written() == edited, "applied once: the re-sent lines were not written"
    assert len(read_all(stack, topics.dlq, "DeadLetter")) == 1


@pytest.fixture
def pg_tables(stack: RunningStack) -> Iterator[tuple[str, str, str, Query]]:
    tag = uuid.uuid4().hex[:10]
    auftrag, position, keys = f"public.auftrag_{tag}", f"public.auftrag_position_{tag}", f"public.keys_{tag}"
    with stack.connect_crm(row_factory=dict_row, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {auftrag} (auftrag_id BIGSERIAL PRIMARY KEY, shop_bestellung TEXT NOT NULL "
                     "UNIQUE, waehrung CHAR(3) NOT NULL, status TEXT NOT NULL DEFAULT 'neu')")
        conn.execute(f"CREATE TABLE {position} (auftrag_id BIGINT NOT NULL REFERENCES {auftrag}, pos_nr INT NOT NULL, "
                     "sku TEXT NOT NULL, menge NUMERIC(12,2) NOT NULL, einzelpreis NUMERIC(12,4) NOT NULL, "
                     "PRIMARY KEY (auftrag_id, pos_nr))")
        try:
            yield auftrag, position, keys, lambda sql: conn.execute(sql.encode()).fetchall()
        finally:
            for table in (position, auftrag, keys):
                conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_postgresql_child_rows_follow_the_lines_once(stack: RunningStack, run: int, tmp_path: Path,
                                                     pg_tables: tuple[str, str, str, Query]) -> None:
    auftrag, position, keys, query = pg_tables
    (tmp_path / "crm.yaml").write_text(f"system: crm\nadapter: sql\nsql: {{keys_table: {keys}}}\n"
                                       + ROUTES.format(auftrag=auftrag, position=position), encoding="utf-8")
    lines_are_written_once(stack, run, tmp_path, "crm", auftrag, position, query)


@pytest.fixture
def mariadb_tables(stack: RunningStack) -> Iterator[tuple[str, Query]]:
    with scratch_mariadb(
            stack, "isthmus_sinklines",
            "CREATE TABLE {db}.auftrag (auftrag_id BIGINT AUTO_INCREMENT PRIMARY KEY, shop_bestellung CHAR(36) NOT "
            "NULL UNIQUE, waehrung CHAR(3) NOT NULL, status ENUM('neu','storniert') NOT NULL DEFAULT 'neu')",
            "CREATE TABLE {db}.auftrag_position (auftrag_id BIGINT NOT NULL, pos_nr INT NOT NULL, sku VARCHAR(64) NOT "
            "NULL, menge DECIMAL(12,2) NOT NULL, einzelpreis DECIMAL(12,4) NOT NULL, PRIMARY KEY (auftrag_id, "
            "pos_nr))") as scratch:
        yield scratch


def test_mariadb_child_rows_follow_the_lines_once(stack: RunningStack, run: int, tmp_path: Path,
                                                  mariadb_tables: tuple[str, Query]) -> None:
    database, query = mariadb_tables
    auftrag, position = f"{database}.auftrag", f"{database}.auftrag_position"
    (tmp_path / "erp.yaml").write_text(textwrap.dedent(f"""\
        system: erp
        adapter: sql
        sql: {{database: {database}}}
        """) + ROUTES.format(auftrag=auftrag, position=position), encoding="utf-8")
    lines_are_written_once(stack, run, tmp_path, "erp", auftrag, position, query)
